"""The server role of the XMPP stream, as a supported API: what the local server is built on.

:class:`ServerConnection` is the mirror image of :class:`cubeproto.ClientConnection` with the
same sans-IO contract: bytes in (``receive_data``/``receive_eof``), bytes out
(``data_to_send``), typed events out (``next_event``), time as an argument
(``get_timer``/``handle_timer``).  It negotiates the stream (features, STARTTLS, SASL PLAIN
and SCRAM, resource binding) and runs the server side of XEP-0198 stream management;
routing stanzas between users is the application's job (every stanza of a bound client
arrives as :class:`StanzaReceived`, and the application answers with
:meth:`ServerConnection.send_stanza`).

A minimal loop, per accepted socket::

    conn = ServerConnection(ServerConfig(domain="localhost", entropy=os.urandom,
                                         authenticate=users.get))
    conn.start(now=clock())
    while (event := conn.next_event()) is not None: ...
    sock.sendall(conn.data_to_send())

Credentials: :func:`make_user_auth` turns a password into the SCRAM keys the server keeps
(:class:`UserAuth`), and :func:`check_plain_password` checks a password against them.
After a cut, :meth:`ServerConnection.detach` hands out a :class:`DetachedSession` that a
later stream resumes with :meth:`ServerConnection.accept_resume`.

Building stanzas to send: :func:`escape_attr` and :func:`escape_text` escape values for
XML (and refuse characters XML 1.0 cannot carry), :func:`element_bytes` serializes a
received element, and :data:`NS_CLIENT` is the stanza namespace.

Everything here is re-exported from private modules (``cubeproto._server_connection``,
``cubeproto._server_state``, ``cubeproto._xmlstream``); import it from here.
"""

from __future__ import annotations

from ._server_base import DEFAULT_SERVER_MECHANISMS
from ._server_connection import (
    ClientAuthenticated,
    ClientAuthFailed,
    ClientBound,
    ClientClosed,
    ClientResumed,
    DetachedSession,
    ResumeRequested,
    ServerConfig,
    ServerConnection,
    ServerTransport,
    SmEnabled,
    StanzaReceived,
    StreamStarted,
    TlsRequested,
    UserAuth,
    check_plain_password,
    make_user_auth,
)
from ._server_state import ServerState
from ._xmlstream import NS_CLIENT, XmlLimits, element_bytes, escape_attr, escape_text

__all__ = [
    "DEFAULT_SERVER_MECHANISMS",
    "NS_CLIENT",
    "ClientAuthFailed",
    "ClientAuthenticated",
    "ClientBound",
    "ClientClosed",
    "ClientResumed",
    "DetachedSession",
    "ResumeRequested",
    "ServerConfig",
    "ServerConnection",
    "ServerState",
    "ServerTransport",
    "SmEnabled",
    "StanzaReceived",
    "StreamStarted",
    "TlsRequested",
    "UserAuth",
    "XmlLimits",
    "check_plain_password",
    "element_bytes",
    "escape_attr",
    "escape_text",
    "make_user_auth",
]
