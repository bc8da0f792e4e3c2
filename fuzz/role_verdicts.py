"""The verdict of each role for one top-level element: the client (``ClientConnection``,
the element arriving from its server) and the server (``ServerConnection``, the element
arriving from its client), both logged in over TCP, talking to each other in memory.

Used by the structure-aware fuzz target and by tests/core/test_role_verdicts.py.  A verdict is
``"accept"`` or the stream error condition of the XML layer the stream ended with.  What a
role does with an element it accepted (deliver it, answer an IQ with an error) is that
role's business and is not compared; conditions only the session layers give are
reported as ``"accept"`` too -- see :data:`XML_CONDITIONS`.

One policy differs by role on purpose and gets its own verdict, ``"unhandled-nonza"``: a
well-formed first-level element outside the content namespace that the session layer
does not handle (``<r xmlns="urn:xmpp:sm:!3"/>``, say).  The server refuses it with
``unsupported-stanza-type`` (RFC 6120 4.9.3.24); the client hands it to the application
as ``UnhandledStanza`` so that a server extension the library does not know cannot end
the session.  Both roles agree that the XML layer passed the element up.
"""

from __future__ import annotations

import random

from cubeproto import ConnectionClosed, UnhandledStanza
from cubeproto._connection import ClientConnection
from cubeproto._server_connection import (
    ClientClosed,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    UserAuth,
)
from cubeproto._xmlstream import XmlLimits
from cubeproto.config import ClientConfig, Transport
from cubeproto.errors import StreamErrorCondition

C = StreamErrorCondition
#: The conditions the XML layer (XmlStreamParser and its top-level rules) ends a stream
#: with.  The server also uses unsupported-stanza-type for nonzas it does not handle
#: (the client reports those as UnhandledStanza), so the element shapes compared are the
#: content namespace's and the XML-level breakages of them.
XML_CONDITIONS = frozenset(
    {
        C.BAD_FORMAT,
        C.BAD_NAMESPACE_PREFIX,
        C.NOT_WELL_FORMED,
        C.POLICY_VIOLATION,
        C.RESTRICTED_XML,
        C.UNSUPPORTED_ENCODING,
        C.UNSUPPORTED_STANZA_TYPE,
    }
)

# A token login: PLAIN with a session token skips the PBKDF2 derivation on both sides.
_AUTH = UserAuth(
    salt=b"fuzz-salt-123",
    iterations=4096,
    keys={"SHA-256": (b"\0" * 32, b"\0" * 32)},
    tokens=frozenset({"tok"}),
)


def logged_in_pair(limits: XmlLimits | None = None) -> tuple[ClientConnection, ServerConnection]:
    """A ClientConnection and a ServerConnection logged in to each other (bind, SM), both
    with ``limits`` (default: the defaults)."""
    limits = limits or XmlLimits()
    server = ServerConnection(
        ServerConfig(
            domain="localhost",
            entropy=random.Random(0).randbytes,
            authenticate=lambda username: _AUTH if username == "777-105" else None,
            transport=ServerTransport.TCP,
            starttls=False,
            require_tls=False,
            allow_plain_unencrypted=True,
            xml_limits=limits,
        )
    )
    client = ClientConnection(
        ClientConfig(
            app_id=105,
            user_id=777,
            password="tok",
            chat_host="localhost",
            entropy=random.Random(1).randbytes,
            wall_clock=lambda: 1_700_000_000.0,
            transport=Transport.TCP,
            require_tls=False,
            allow_plain_unencrypted=True,
            mechanisms=("PLAIN",),
            xml_limits=limits,
        )
    )
    server.start(now=0.0)
    client.start(now=0.0)
    for _ in range(50):
        out = client.data_to_send()
        if out:
            server.receive_data(out, now=0.0)
        back = server.data_to_send()
        if back:
            client.receive_data(back, now=0.0)
        if not out and not back:
            break
    while client.next_event() is not None:
        pass
    while server.next_event() is not None:
        pass
    if client.state.value != "ready":
        raise RuntimeError(f"the pair did not log in: {client.state}")
    return client, server


#: The verdict for a first-level element outside the content namespace that the XML
#: layer passed up and the session layer does not handle (see the module docstring).
UNHANDLED_NONZA = "unhandled-nonza"
_STANZA_NAMES = frozenset({"message", "presence", "iq"})


def _is_nonza(raw: bytes) -> bool:
    """Whether ``raw`` (an ``UnhandledStanza``'s bytes, which start with the element's
    start tag) is not a stanza.  Read from the tag's name, not by parsing ``raw`` again:
    the serialization of a peer's element need not be a document lxml accepts (a
    namespace name that is not a valid URI, for one)."""
    name = raw[1:].split(maxsplit=1)[0].split(b">", 1)[0].split(b"/", 1)[0]
    return name.rpartition(b":")[2].decode("utf-8", "replace") not in _STANZA_NAMES


def _client_verdict(client: ClientConnection) -> str:
    verdict = "accept"
    while (event := client.next_event()) is not None:
        if verdict != "accept":
            continue  # the server stops at the first refusal; so does the comparison
        if isinstance(event, ConnectionClosed) and event.condition in XML_CONDITIONS:
            verdict = event.condition.value
        elif isinstance(event, UnhandledStanza) and _is_nonza(event.raw):
            verdict = UNHANDLED_NONZA
    return verdict


def _server_verdict(server: ServerConnection) -> str:
    verdict = "accept"
    while (event := server.next_event()) is not None:
        if isinstance(event, ClientClosed) and event.condition in XML_CONDITIONS:
            # The session layer's refusal of a nonza it does not handle says "unexpected
            # <x/> in state s" (ServerConnection._on_nonza); the XML layer's say what
            # rule the element broke.
            session_refusal = (event.text or "").startswith("unexpected <")
            verdict = UNHANDLED_NONZA if session_refusal else event.condition.value
    return verdict


def verdicts(data: bytes, chunk: int = 1 << 16) -> tuple[str, str]:
    """(client verdict, server verdict) for ``data`` arriving, in ``chunk``-byte pieces,
    on a logged-in stream of each role."""
    client, server = logged_in_pair()
    for start in range(0, len(data), chunk):
        piece = data[start : start + chunk]
        client.receive_data(piece, now=1.0)
        server.receive_data(piece, now=1.0)
    client.data_to_send()
    server.data_to_send()
    return _client_verdict(client), _server_verdict(server)
