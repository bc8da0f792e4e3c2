"""slixmpp (an independent XMPP implementation) as a client of the local server, in its own
thread and event loop: what a standards-following client sees, checked against RFC 6120/6121
and XEP-0045 rather than against our own client's expectations.

``Slix(...)`` connects over STARTTLS on ``__enter__`` (no initial presence: the test sends
what it needs), records every inbound presence, message and IQ (``presences``, ``messages``,
``iqs``), and runs coroutines or plain calls on slixmpp's loop with :meth:`Slix.run`.
:meth:`Slix.wait_until` waits on those records (no sleeps); :meth:`Slix.barrier` is a ping
round trip: everything the server sent before the pong has been recorded when it returns.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import slixmpp

# Imported here, in the test's thread: CPython 3.11.7 can corrupt its compiler state when
# two threads compile at once (slixmpp loads plugins lazily).
for _name in (
    "slixmpp.plugins.xep_0004",
    "slixmpp.plugins.xep_0030",
    "slixmpp.plugins.xep_0045",
    "slixmpp.plugins.xep_0199",
    "slixmpp.features.feature_starttls",
    "slixmpp.features.feature_mechanisms",
    "slixmpp.features.feature_bind",
):
    importlib.import_module(_name)

T = TypeVar("T")
WAIT = 10.0


class Slix:
    def __init__(
        self, jid: str, password: str, port: int, tls: ssl.SSLContext, *, muc: bool = False
    ) -> None:
        self.presences: list[Any] = []
        self.messages: list[Any] = []
        self.iqs: list[Any] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self._port = port
        self._loop = asyncio.new_event_loop()
        client = slixmpp.ClientXMPP(jid, password, loop=self._loop)
        client.ssl_context = tls
        client.register_plugin("xep_0199")
        if muc:
            client.register_plugin("xep_0045")
        client.add_event_handler("session_start", lambda _: self._ready.set())
        client.add_event_handler("presence", lambda s: self._record(self.presences, s))
        client.add_event_handler("message", lambda s: self._record(self.messages, s))
        # IQ answers to raw IQs (slixmpp hands unmatched results/errors to no handler).
        client.register_handler(
            slixmpp.xmlstream.handler.Callback(
                "raw iq answers",
                slixmpp.xmlstream.matcher.MatchXPath("{jabber:client}iq"),
                lambda s: self._record(self.iqs, s),
            )
        )
        self.client: Any = client
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Slix:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError("slixmpp did not start its session")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            await self.client.disconnect()
            # Ended here, not by the garbage collector after the loop is gone.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def jid(self) -> str:
        return str(self.client.boundjid.full)

    def run(self, fn: Callable[[], Awaitable[T] | T], timeout: float = WAIT) -> T:
        """Call ``fn`` on slixmpp's loop (awaiting it if it returns an awaitable)."""

        async def go() -> T:
            result = fn()
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        return asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout)

    def send_raw(self, xml: str) -> None:
        self.run(lambda: self.client.send_raw(xml))

    def barrier(self) -> None:
        """A ping round trip to the server: what it sent before is recorded now."""
        self.run(lambda: self.client.plugin["xep_0199"].ping(timeout=WAIT), timeout=WAIT + 5)

    def wait_until(self, records: list[Any], predicate: Callable[[Any], bool]) -> Any:
        """The first record in ``records`` matching ``predicate`` (waits for it)."""
        deadline = time.monotonic() + WAIT
        with self._changed:
            while True:
                for item in records:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing matching within {WAIT} s in {records!r}")
                self._changed.wait(left)

    def _record(self, records: list[Any], stanza: Any) -> None:
        with self._changed:
            records.append(stanza)
            self._changed.notify_all()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self.client.connect, "127.0.0.1", self._port)
        self._loop.run_forever()
