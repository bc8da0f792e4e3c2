"""slixmpp 1.17 as a benchmark peer: a real ``ClientXMPP`` in the logged-in state, no network.

slixmpp's ``XMLStream`` is an asyncio ``Protocol``: ``connection_made(transport)`` resets its
parser and writes the stream header, ``data_received(bytes)`` feeds its ``XMLPullParser``,
builds stanza objects, runs the ``in`` filters (XEP-0198 counts there) and the matching
handlers -- synchronously, while coroutine handlers and everything it sends (``<a/>``
answers, IQ results) go through the event loop (``waiting_queue`` drained by its
``run_filters`` task).  So the peer is driven exactly as asyncio would drive it, with a
transport that swallows (and counts) what it writes instead of a socket.

The login is not replayed (SASL needs a server); the client is put in the state that the
real login leaves behind, through slixmpp's own events and handlers where it has them:
the server's stream header is parsed, ``session_bind`` fires with the bound JID, the
server's ``<enabled/>`` is parsed by the XEP-0198 handler and our ``<enable/>`` goes out
through the outbound filters, and ``session_start`` fires.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from typing import Any

from slixmpp import JID, ClientXMPP
from slixmpp.plugins.xep_0198 import stanza as sm_stanza
from stream_gen import APP_ID, DOMAIN, ME, RESOURCE, stream_header

#: The logged-in user: the one stream_gen's stanzas are addressed to.
BENCH_JID = f"{ME}-{APP_ID}@{DOMAIN}/{RESOURCE}"

#: The plugins under test (chat states, chat markers, stream management, ping);
#: slixmpp pulls in their dependencies (service discovery) itself.
PLUGINS = ("xep_0085", "xep_0333", "xep_0198", "xep_0199")


#: The send-queue tasks of every client made here: they live as long as their client and
#: are never "done", so :func:`settle` must not wait for them.
_SEND_TASKS: weakref.WeakSet[asyncio.Task[None]] = weakref.WeakSet()


class SwallowTransport(asyncio.Transport):
    """A write-only transport that counts and drops what the protocol writes."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes_written = 0
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.bytes_written += len(data)
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def quiet_logging() -> None:
    """Keep slixmpp's logger to CRITICAL: the generated stream's ``<a h=.../>`` values do
    not match what this client sent, and slixmpp logs an error for each of those."""
    logging.getLogger("slixmpp").setLevel(logging.CRITICAL)


def new_client(
    loop: asyncio.AbstractEventLoop, ssl_context: ssl.SSLContext | None = None
) -> ClientXMPP:
    """A ``ClientXMPP`` for :data:`BENCH_JID` with :data:`PLUGINS`, not yet connected.

    Without ``ssl_context`` slixmpp makes its own per client, loading the system CA store
    (~0.8 MB of OpenSSL memory each); pass one shared context to leave that out.
    """
    client = ClientXMPP(BENCH_JID, "pw", loop=loop, ssl_context=ssl_context)
    for plugin in PLUGINS:
        client.register_plugin(plugin)
    return client


async def log_in(client: ClientXMPP) -> SwallowTransport:
    """Bring ``client`` into the logged-in, stream-management-enabled state (see module doc).

    Must run on the client's event loop; returns the transport that swallows its output.
    """
    client._run_out_filters = asyncio.ensure_future(client.run_filters())
    _SEND_TASKS.add(client._run_out_filters)
    transport = SwallowTransport()
    client.connection_made(transport)
    client.data_received(stream_header())
    client.authenticated = True
    client.boundjid = JID(BENCH_JID)
    client.event("session_bind", client.boundjid)
    client.send(sm_stanza.Enable(client))
    client.data_received(b"<enabled xmlns='urn:xmpp:sm:3' id='bench-sm' resume='true'/>")
    client.event("session_start")
    await settle(client)
    sm = client.plugin["xep_0198"]
    if not (sm.enabled_in and sm.enabled_out):
        raise RuntimeError("slixmpp did not enable stream management")
    return transport


async def settle(client: ClientXMPP) -> None:
    """Run the loop until slixmpp has nothing left to do: queued sends written, tasks done."""
    current = asyncio.current_task()
    while True:
        await client.waiting_queue.join()
        others = [
            task
            for task in asyncio.all_tasks()
            if task is not current and task not in _SEND_TASKS and not task.done()
        ]
        if not others and client.waiting_queue.empty():
            return
        await asyncio.gather(*others, return_exceptions=True)
        await asyncio.sleep(0)


async def shut_down(client: ClientXMPP) -> None:
    """Stop the background send task (no stream close is sent: there is no peer)."""
    task = client._run_out_filters
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
