"""slixmpp (an independent XMPP implementation) as the other party, in its own thread.

The peer echoes every chat message it receives as ``echo:<body>`` and records what it
got; ``send(to, body)`` sends a plain chat message from slixmpp.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from typing import Any

import slixmpp


class SlixPeer:
    def __init__(self, jid: str, password: str, port: int, tls: ssl.SSLContext) -> None:
        self.received: list[tuple[str, str | None, str]] = []  # (from, id, body)
        self._ready = threading.Event()
        self._jid, self._password, self._port, self._tls = jid, password, port, tls
        self._loop = asyncio.new_event_loop()
        self._client: Any = self._make_client()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlixPeer:
        self._thread.start()
        if not self._ready.wait(15):
            raise AssertionError("slixmpp did not start its session")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            await self._client.disconnect()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def send(self, to: str, body: str) -> None:
        def go() -> None:
            self._client.send_message(mto=to, mbody=body, mtype="chat")

        self._loop.call_soon_threadsafe(go)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._client.connect, "127.0.0.1", self._port)
        self._loop.run_forever()

    def _make_client(self) -> Any:
        # Built in the test's thread: slixmpp imports its plugins lazily, and CPython
        # 3.11.7 can fail with "AST constructor recursion depth mismatch" when another
        # thread compiles while pytest rewrites a test module.
        client = slixmpp.ClientXMPP(self._jid, self._password, loop=self._loop)
        client.ssl_context = self._tls
        client.register_plugin("xep_0199")

        async def session_start(_: Any) -> None:
            client.send_presence()
            # Answered after the server handled the presence: now messages reach us.
            await client.plugin["xep_0199"].ping(timeout=5)
            self._ready.set()

        def message(msg: Any) -> None:
            if msg["type"] in ("chat", "normal") and msg["body"]:
                self.received.append((str(msg["from"]), msg["id"] or None, msg["body"]))
                client.send_message(mto=msg["from"], mbody="echo:" + msg["body"], mtype="chat")

        client.add_event_handler("session_start", session_start)
        client.add_event_handler("message", message)
        return client
