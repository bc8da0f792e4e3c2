"""Stream framings: how XML elements travel over the adapter's byte stream.

* :class:`TcpFraming` -- RFC 6120: one XML document ``<stream:stream>`` per stream, over
  TCP or TLS (STARTTLS or direct TLS on 5223).
* :class:`WebSocketFraming` -- RFC 7395: an HTTP/1.1 upgrade (subprotocol ``xmpp``), then
  one complete element per WebSocket text message, ``<open/>``/``<close/>`` in the
  ``urn:ietf:params:xml:ns:xmpp-framing`` namespace.  The WebSocket layer is wsproto, which
  is itself sans-IO, so the adapter only ever moves bytes.
* :class:`ServerTcpFraming` and :class:`ServerWebSocketFraming` -- the same two framings in
  the server role (``ServerConnection``): they answer the client's header and upgrade
  instead of starting them; parsing, limits and framing of elements are the client's.

Both turn received bytes into the same items (:class:`StreamHeader`, top-level elements,
:class:`StreamFooter`, plus :data:`TRANSPORT_READY`/:data:`TRANSPORT_CLOSED` for the
WebSocket handshake and closing handshake) and turn outbound XML text into bytes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Final

from lxml import etree
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason as WsCloseReason
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from ._xmlstream import (
    NS_CLIENT,
    NS_FRAMING,
    StreamFooter,
    StreamHeader,
    XmlLimits,
    XmlStreamError,
    XmlStreamParser,
    escape_attr,
    parse_frame,
)
from .errors import StreamErrorCondition

__all__ = [
    "STANZA_NAME_END",
    "TRANSPORT_CLOSED",
    "TRANSPORT_READY",
    "Framing",
    "Item",
    "ServerTcpFraming",
    "ServerWebSocketFraming",
    "TcpFraming",
    "TransportSignal",
    "WebSocketFraming",
    "read_stanza_name_end",
]


class TransportSignal:
    """A marker item: the transport below XML changed state."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


#: The WebSocket upgrade was accepted; the XMPP stream may be opened.
TRANSPORT_READY: Final = TransportSignal("transport-ready")
#: The peer closed the WebSocket (a closing handshake, not just EOF).
TRANSPORT_CLOSED: Final = TransportSignal("transport-closed")

Item = StreamHeader | StreamFooter | etree._Element | TransportSignal

#: Where the element name of each kind of stanza ends in its serialized form
#: (``<message``, ``<presence``, ``<iq``): the place WebSocket framing qualifies it.
STANZA_NAME_END: Final = {"message": 8, "presence": 9, "iq": 3}
_QUALIFIER = f' xmlns="{NS_CLIENT}"'
_OPEN = f"{{{NS_FRAMING}}}open"
_CLOSE = f"{{{NS_FRAMING}}}close"


#: The start tag of a stanza of the client namespace as serialized XML writes it: the
#: name, then attributes (either quote), then ``>`` or ``/>``.  The name must end there,
#: so that ``<messages>`` or ``<iqx/>`` (someone's nonza) are not read as stanzas.
_STANZA_START = re.compile(
    r"<(?:message|presence|iq)((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>"
)
_ATTRIBUTE_NAME = re.compile(r"\s+([^\s=/>]+)\s*=\s*(?:\"[^\"]*\"|'[^']*')")


def read_stanza_name_end(xml: str) -> int | None:
    """What :meth:`Framing.frame_stanza` needs, read from serialized XML that arrived
    without it: a stanza given whole to ``ServerConnection.send_stanza``, one built by an
    :class:`~cubeproto.commands.OutboundStanza` builder that does not state its ``kind``,
    one restored from a checkpoint.  ``None`` when ``xml`` is not a stanza (a nonza:
    stream management does not count it), or does not start with a well-formed start tag
    of one; 0 when the stanza declares its default namespace itself (``xmlns=``, either
    quote); otherwise where its element name ends.  The start tag is read as XML writes
    it (attribute values may hold ``>``, spaces or ``xmlns=``; any whitespace separates
    attributes).  Everything the connections build themselves carries these facts
    instead of having them read back."""
    start = _STANZA_START.match(xml)
    if start is None:
        return None
    attributes = start.group(1)
    if "xmlns" in attributes and "xmlns" in _ATTRIBUTE_NAME.findall(attributes):
        return 0
    return start.start(1)


def _tcp_header(attrs: str) -> bytes:
    """An RFC 6120 stream header with ``attrs`` (each with its leading space)."""
    return (
        "<?xml version='1.0'?><stream:stream xmlns=\"jabber:client\" "
        'xmlns:stream="http://etherx.jabber.org/streams"' + attrs + ">"
    ).encode()


def _header_attrs(to: str, from_: str | None) -> str:
    attrs = f' to="{escape_attr(to)}" version="1.0"'
    if from_:
        attrs += f' from="{escape_attr(from_)}"'
    return attrs


#: ``trace(direction, xml)``: told every piece of the XML stream, ``"in"`` as received
#: (after WebSocket deframing) and ``"out"`` as written (before framing).
Trace = Callable[[str, bytes], None]


class Framing:
    """Interface shared by both framings."""

    #: Whether XMPP data may be sent (false until a WebSocket upgrade is accepted).
    ready: bool
    #: The wire trace (``ClientConfig.wire_trace``), or ``None``: the usual case, which
    #: costs one attribute test per piece.
    trace: Trace | None

    def start(self) -> bytes:
        """Bytes to send before the XMPP stream can open (the WebSocket upgrade)."""
        raise NotImplementedError

    def open_stream(self, to: str, from_: str | None) -> bytes:
        """A fresh stream header (also used for restarts); resets the parser."""
        raise NotImplementedError

    def feed(self, data: bytes) -> list[Item]:
        """Parse received bytes.  Raises :class:`XmlStreamError` for fatal peer faults."""
        raise NotImplementedError

    def frame(self, xml: str) -> bytes:
        """Bytes carrying one top-level element (or several, for TCP), written as it is:
        a nonza, or a stanza that declares its namespace itself."""
        raise NotImplementedError

    def frame_stanza(self, xml: str, name_end: int) -> bytes:
        """Bytes carrying one stanza whose element name ends at ``xml[name_end]`` (see
        :data:`STANZA_NAME_END`) and which relies on the stream's default namespace.
        Over TCP that is the stream header's ``jabber:client``; a WebSocket message is a
        document of its own, so there the stanza gets ``xmlns="jabber:client"`` after its
        name (RFC 7395 3.3.3).  ``name_end`` 0 means the stanza declares its namespace
        itself: written as it is.  The caller says which, from what it built: nothing
        here reads the XML back."""
        return self.frame(xml)

    def close_stream(self) -> bytes:
        """Bytes that close the XMPP stream."""
        raise NotImplementedError

    def shutdown(self) -> bytes:
        """Bytes that close the transport below XMPP (the WebSocket close frame)."""
        return b""

    def pending(self) -> bytes:
        """Bytes the framing produced on its own (WebSocket pongs and close replies)."""
        return b""

    def release_idle(self) -> bool:
        """Free parser memory while the stream is idle (see XmlStreamParser.release_idle);
        WebSocket framing parses each message on its own and holds nothing."""
        return False


class TcpFraming(Framing):
    """RFC 6120 framing over a TCP or TLS byte stream."""

    __slots__ = ("_limits", "_parser", "ready", "trace")

    def __init__(self, limits: XmlLimits) -> None:
        self._limits = limits
        self._parser = XmlStreamParser(limits, stanzas_only=True)
        self.ready = True
        self.trace = None

    def start(self) -> bytes:
        return b""

    def open_stream(self, to: str, from_: str | None) -> bytes:
        self._parser = XmlStreamParser(self._limits, stanzas_only=True)
        header = _tcp_header(_header_attrs(to, from_))
        if self.trace is not None:
            self.trace("out", header)
        return header

    def feed(self, data: bytes) -> list[Item]:
        if self.trace is not None:
            self.trace("in", data)
        return list(self._parser.feed(data))

    def frame(self, xml: str) -> bytes:
        data = xml.encode()
        if self.trace is not None:
            self.trace("out", data)
        return data

    def frame_stanza(self, xml: str, name_end: int) -> bytes:
        data = xml.encode()  # the stream header declared jabber:client
        if self.trace is not None:
            self.trace("out", data)
        return data

    def close_stream(self) -> bytes:
        if self.trace is not None:
            self.trace("out", b"</stream:stream>")
        return b"</stream:stream>"

    def release_idle(self) -> bool:
        return self._parser.release_idle()


def _frame_fault(event: CloseConnection) -> XmlStreamError:
    """The stream error for a fault wsproto found in the peer's frames.

    Invalid UTF-8 in a text message (wsproto's close code 1007) ends the stream with
    ``unsupported-encoding``, as the same bytes do over TCP (RFC 6120 4.9.3.22: a stream
    "improperly encoded ... by violating the rules of the [UTF-8] encoding"; RFC 7395 3.2
    carries XMPP in text messages, which RFC 6455 5.6 requires to be UTF-8).  Any other
    framing fault (1002 and the like) is ``bad-format``, like the protocol errors wsproto
    raises directly.
    """
    if event.code == WsCloseReason.INVALID_FRAME_PAYLOAD_DATA:
        return XmlStreamError(
            StreamErrorCondition.UNSUPPORTED_ENCODING,
            f"WebSocket text message is not UTF-8: {event.reason}",
        )
    return XmlStreamError(
        StreamErrorCondition.BAD_FORMAT,
        f"WebSocket protocol error ({event.code}): {event.reason}",
    )


class _WebSocketFraming(Framing):
    """RFC 7395 over wsproto, what both roles share: one element per text message,
    stanzas qualified by ``jabber:client``, pings, the closing handshake.  The role's
    subclass handles its side of the HTTP upgrade in :meth:`_handshake`."""

    __slots__ = ("_buffer", "_limits", "_out", "_ws", "ready", "trace")

    def __init__(self, limits: XmlLimits, role: ConnectionType) -> None:
        self._limits = limits
        self._ws = WSConnection(role)
        self._buffer: list[str] = []
        self._out: list[bytes] = []
        self.ready = False
        self.trace = None

    def frame(self, xml: str) -> bytes:
        if self.trace is not None:
            self.trace("out", xml.encode())
        try:
            return self._ws.send(TextMessage(data=xml))
        except WsLocalProtocolError:
            return b""  # the WebSocket is closing: nothing more can be sent

    def frame_stanza(self, xml: str, name_end: int) -> bytes:
        if name_end:  # RFC 7395 3.3.3: stanzas qualified by jabber:client
            xml = xml[:name_end] + _QUALIFIER + xml[name_end:]
        return self.frame(xml)

    def close_stream(self) -> bytes:
        return self.frame(f'<close xmlns="{NS_FRAMING}"/>')

    def shutdown(self) -> bytes:
        try:
            return self._ws.send(CloseConnection(code=1000))
        except WsLocalProtocolError:
            return b""  # already closing or closed

    def pending(self) -> bytes:
        out = b"".join(self._out)
        self._out.clear()
        return out

    def feed(self, data: bytes) -> list[Item]:
        try:
            self._ws.receive_data(data)
            events = list(self._ws.events())
        except (UnicodeError, ValueError) as exc:
            # wsproto decodes the Host header with the idna codec and lets its errors out.
            raise XmlStreamError(
                StreamErrorCondition.BAD_FORMAT, f"bad WebSocket upgrade: {exc}"
            ) from None
        except WsRemoteProtocolError as exc:
            if exc.event_hint is not None and not self.ready:
                with contextlib.suppress(WsLocalProtocolError):
                    self._out.append(self._ws.send(exc.event_hint))
            raise XmlStreamError(
                StreamErrorCondition.BAD_FORMAT, f"WebSocket protocol error: {exc}"
            ) from None
        items: list[Item] = []
        try:
            for event in events:
                if isinstance(event, TextMessage):
                    self._buffer.append(event.data)
                    if sum(len(part) for part in self._buffer) > self._limits.max_stanza_bytes:
                        raise XmlStreamError(
                            StreamErrorCondition.POLICY_VIOLATION,
                            "WebSocket message larger than the stanza size limit",
                        )
                    if event.message_finished:
                        text = "".join(self._buffer)
                        self._buffer.clear()
                        if self.trace is not None:
                            self.trace("in", text.encode())
                        items.append(self._element(text))
                elif isinstance(event, BytesMessage):
                    raise XmlStreamError(
                        StreamErrorCondition.BAD_FORMAT,
                        "binary WebSocket message (RFC 7395 section 3.2 requires text)",
                    )
                elif isinstance(event, Ping):
                    self._out.append(self._ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    if self._ws.state is ConnectionState.OPEN:
                        # wsproto found a fault in the peer's frames itself (its ParseFailed
                        # becomes a CloseConnection event while the state stays OPEN; a close
                        # frame the peer really sent moves it to REMOTE_CLOSING): a typed
                        # fault like the same bytes over TCP, not an ordinary remote close.
                        raise _frame_fault(event)
                    with contextlib.suppress(WsLocalProtocolError):  # our close was first
                        self._out.append(self._ws.send(event.response()))
                    items.append(TRANSPORT_CLOSED)
                else:
                    self._handshake(event, items)
        except XmlStreamError as exc:
            if items:  # the frames before the faulty one are handled first
                raise XmlStreamError(exc.condition, exc.text, (*items, *exc.items)) from None
            raise
        return items

    def _handshake(self, event: Event, items: list[Item]) -> None:
        """The role's side of the HTTP upgrade (other wsproto events are ignored)."""
        raise NotImplementedError

    def _element(self, text: str) -> Item:
        element = parse_frame(text.encode(), self._limits, stanzas_only=True)
        tag = element.tag
        if tag == _OPEN:
            return StreamHeader(
                name=_OPEN,
                attributes={str(k): str(v) for k, v in element.attrib.items()},
                default_namespace=NS_FRAMING,
            )
        if tag == _CLOSE:
            return StreamFooter()
        return element


class WebSocketFraming(_WebSocketFraming):
    """RFC 7395 framing, client role: the HTTP upgrade to ``host`` / ``path`` with
    subprotocol ``xmpp``, which this object negotiates with wsproto."""

    __slots__ = ("_host", "_path")

    def __init__(self, limits: XmlLimits, *, host: str, path: str) -> None:
        super().__init__(limits, ConnectionType.CLIENT)
        self._host = host
        self._path = path

    def start(self) -> bytes:
        return self._ws.send(Request(host=self._host, target=self._path, subprotocols=["xmpp"]))

    def open_stream(self, to: str, from_: str | None) -> bytes:
        return self.frame(f'<open xmlns="{NS_FRAMING}"' + _header_attrs(to, from_) + "/>")

    def _handshake(self, event: Event, items: list[Item]) -> None:
        if isinstance(event, AcceptConnection):
            if event.subprotocol != "xmpp":
                raise XmlStreamError(
                    StreamErrorCondition.UNSUPPORTED_FEATURE,
                    f"server accepted WebSocket subprotocol {event.subprotocol!r}, "
                    "not 'xmpp' (RFC 7395 section 3.2)",
                )
            self.ready = True
            items.append(TRANSPORT_READY)
        elif isinstance(event, (RejectConnection, RejectData)):
            status = getattr(event, "status_code", None)
            raise XmlStreamError(
                StreamErrorCondition.REMOTE_CONNECTION_FAILED,
                f"WebSocket upgrade rejected (HTTP {status})",
            )


class ServerTcpFraming(TcpFraming):
    """RFC 6120 framing, server role: the client speaks first, and we answer its header
    with ours (:meth:`open_reply`); the parser restarts when the stream does
    (:meth:`restart`), not when we write a header."""

    __slots__ = ()

    def restart(self) -> None:
        """A new stream follows (after STARTTLS or SASL): parse it with a fresh parser."""
        self._parser = XmlStreamParser(self._limits, stanzas_only=True)

    def open_reply(self, stream_id: str, domain: str) -> bytes:
        """Our stream header, answering the client's."""
        return _tcp_header(
            f' id="{stream_id}" from="{escape_attr(domain)}" version="1.0" xml:lang="en"'
        )


class ServerWebSocketFraming(_WebSocketFraming):
    """RFC 7395 framing, server role: wsproto answers the upgrade (subprotocol ``xmpp``);
    the rest is the client's."""

    __slots__ = ()

    def __init__(self, limits: XmlLimits) -> None:
        super().__init__(limits, ConnectionType.SERVER)

    def restart(self) -> None:
        """Nothing to reset: every message is parsed on its own."""

    def open_reply(self, stream_id: str, domain: str) -> bytes:
        """Our ``<open/>``, answering the client's."""
        return self.frame(
            f'<open xmlns="{NS_FRAMING}" id="{stream_id}" from="{escape_attr(domain)}" '
            'version="1.0" xml:lang="en"/>'
        )

    def _handshake(self, event: Event, items: list[Item]) -> None:
        if not isinstance(event, Request):
            return
        if "xmpp" not in event.subprotocols:
            self._out.append(self._ws.send(RejectConnection(status_code=400, has_body=False)))
            raise XmlStreamError(
                StreamErrorCondition.UNSUPPORTED_FEATURE,
                "WebSocket upgrade without subprotocol 'xmpp' (RFC 7395 3.2)",
            )
        self._out.append(self._ws.send(AcceptConnection(subprotocol="xmpp")))
        self.ready = True
        items.append(TRANSPORT_READY)
