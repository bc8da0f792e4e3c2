"""The local server's deadlines and bounds, in a module of their own so that the console
script can show their defaults (``cubeproto serve --help``) without the ``server`` extra."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ServerLimits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerLimits:
    """Deadlines and bounds of the local server (seconds and bytes).

    Every state of a connection has a deadline: the TLS handshake (direct TLS, and after
    ``<proceed/>``) ``tls_handshake_timeout``; from the first byte to a bound (or resumed)
    session -- stream header, WebSocket upgrade, STARTTLS, SASL, binding --
    ``negotiation_timeout``; a bound session that was sent stanzas and does not ack them
    the server's ``ack_timeout`` (:class:`LocalServer` argument); a bound session that is
    silent but acks what it gets lives on unless ``idle_timeout`` is set; the server's own
    close waits ``close_timeout``; each write to a peer ``write_timeout``; an HTTP
    connection ``http_timeout`` for each step (waiting for a request, its head, each part
    of its body, each write of the response).

    Each chat connection has its own outbound queue and writer task: delivery to one
    session never waits for another.  A session with more than ``max_queued_bytes``
    waiting behind the write in progress (bytes routed to it and not yet handed to its
    socket; the write in progress itself may be of any size: a resumed session's resend)
    or whose socket accepts nothing for ``write_timeout`` is cut like a lost connection:
    with XEP-0198 resumption its unacknowledged stanzas are kept for the resumed session
    (then offline storage when the resumption window ends), without stream management
    what was not written is lost, as with any network cut.
    """

    tls_handshake_timeout: float = 10.0
    negotiation_timeout: float = 30.0
    idle_timeout: float | None = None
    close_timeout: float = 2.0
    write_timeout: float = 30.0
    #: Eight stanzas of the largest size a client may send (``XmlLimits.max_stanza_bytes``).
    max_queued_bytes: int = 4 * 1024 * 1024
    http_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in (
            "tls_handshake_timeout",
            "negotiation_timeout",
            "close_timeout",
            "write_timeout",
            "http_timeout",
            "max_queued_bytes",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"ServerLimits.{name} must be positive")
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError("ServerLimits.idle_timeout must be positive or None")
