"""What happened, in words a user can act on, and a wire trace that never shows a credential.

The core reads no clock and performs no I/O, so it cannot log (a ``logging.LogRecord``
reads the clock).  The adapters do the logging; this module gives them the two pure parts
of it:

* :func:`describe` turns an event into one sentence ("the server closed the connection:
  TLS handshake failed: certificate verify failed"), for log records and for the message
  of :class:`~cubeproto.transports.errors.ConnectFailed`.
* :class:`WireRedactor` turns the bytes of one direction of a stream into trace text with
  the content of every credential-bearing element (SASL ``<auth>``, ``<response>``,
  ``<challenge>``, ``<success>``; ``<password>``, ``<token>``) replaced by ``[redacted]``.
  It is incremental: the text it returns does not depend on how the stream was cut into
  pieces, so a secret split across two TCP reads is hidden too.
* :func:`redact_headers`, :func:`redact_json_text` and :func:`redact_url` do the same for
  the REST side (``CB-Token``/``Authorization`` headers, ``password``/``token``/
  ``signature`` fields, signed URL parameters).

What is *not* recognised (documented limits, none of which cubeproto itself produces): a
credential element whose qualified name is longer than :data:`MAX_NAME` characters, a
``>`` inside an attribute value of a credential element's start tag, and end tags with more
than :data:`MAX_END_TAG_SPACE` spaces before their ``>``.
"""

from __future__ import annotations

import codecs
import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import fields, is_dataclass
from typing import Any

from .chat.events import DialogJoinFailed, MessageBounced
from .errors import StanzaError
from .events import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CloseReason,
    Connected,
    ConnectionClosed,
    ConnectionDead,
    IqFailed,
    IqTimedOut,
    MalformedStanza,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    PingTimedOut,
    ResumeFailed,
    StreamManagementEnabled,
    StreamOpened,
    StreamResumed,
    TlsUpgradeRequired,
)
from .reconnect import Disconnected, Reconnected

__all__ = [
    "MAX_END_TAG_SPACE",
    "MAX_NAME",
    "REDACTED",
    "SECRET_ELEMENTS",
    "WireRedactor",
    "describe",
    "redact_headers",
    "redact_json_text",
    "redact_url",
]

#: What replaces a credential.
REDACTED = "[redacted]"

#: Local names of the elements whose text content is a credential (or, for
#: ``challenge``/``success``, part of the SASL exchange that is no one's business).
SECRET_ELEMENTS = frozenset({"auth", "response", "challenge", "success", "password", "token"})

#: A tag name longer than this (prefix included) is never taken for a credential element.
MAX_NAME = 64

#: Whitespace allowed between a credential element's end-tag name and its ``>``.
MAX_END_TAG_SPACE = 16

_NAME_END = re.compile(r"[\s/>]")
_SPACE = frozenset(" \t\r\n")


class _Mode(enum.Enum):
    TEXT = "text"  # ordinary markup and text: shown as is
    SECRET_TAG = "secret-tag"  # inside a credential element's start tag (attributes shown)
    SECRET_CONTENT = "secret-content"  # inside its content: hidden


class WireRedactor:
    """One direction of one stream, bytes in, trace text out, credentials hidden.

    ``feed(data)`` returns the text that can be shown so far; ``flush()`` returns the
    rest at the end of the stream.  For any way of cutting a stream into pieces, the
    concatenation of what ``feed`` returned plus ``flush()`` is the same (a hypothesis
    property and a fuzz target check it).  Bytes that are not UTF-8 show as U+FFFD.
    """

    __slots__ = ("_buffer", "_closing", "_decoder", "_hidden", "_mode", "_slash")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""
        self._mode = _Mode.TEXT
        self._closing = ""  # the end tag's "</qname" of the element being hidden
        self._slash = False  # the start tag's last character so far was "/"
        self._hidden = False  # some content has been hidden (so "[redacted]" is owed)

    def feed(self, data: bytes | str) -> str:
        """Take the next piece of the stream; return what can be shown of it now."""
        text = data if isinstance(data, str) else self._decoder.decode(data)
        self._buffer += text
        return self._run(final=False)

    def flush(self) -> str:
        """The stream ended: return what is left (a hidden tail shows as ``[redacted]``)."""
        self._buffer += self._decoder.decode(b"", final=True)
        return self._run(final=True)

    def _run(self, *, final: bool) -> str:
        out: list[str] = []
        while self._buffer:
            if not self._step(out, final=final):
                break
        if final:
            if self._mode is _Mode.SECRET_CONTENT and (self._hidden or self._buffer):
                out.append(REDACTED)
            elif self._mode is not _Mode.SECRET_CONTENT:
                out.append(self._buffer)
            self._buffer = ""
            self._mode = _Mode.TEXT
            self._hidden = False
        return "".join(out)

    def _step(self, out: list[str], *, final: bool) -> bool:
        """Consume some of the buffer; False when more input is needed to decide."""
        buf = self._buffer
        if self._mode is _Mode.TEXT:
            start = buf.find("<")
            if start < 0:
                out.append(buf)
                self._buffer = ""
                return True
            if start:
                out.append(buf[:start])
                buf = self._buffer = buf[start:]
            return self._tag_name(out, buf, final=final)
        if self._mode is _Mode.SECRET_TAG:
            end = buf.find(">")
            if end < 0:
                out.append(buf)
                self._slash = buf.endswith("/")
                self._buffer = ""
                return True
            out.append(buf[: end + 1])
            self_closing = buf[end - 1] == "/" if end else self._slash
            self._buffer = buf[end + 1 :]
            self._mode = _Mode.TEXT if self_closing else _Mode.SECRET_CONTENT
            self._hidden = False
            return True
        # SECRET_CONTENT: hide everything up to this element's end tag.
        start = buf.find("<")
        if start < 0:
            self._hidden = True
            self._buffer = ""
            return True
        if start:
            self._hidden = True
            buf = self._buffer = buf[start:]
        return self._end_tag(out, buf, final=final)

    def _tag_name(self, out: list[str], buf: str, *, final: bool) -> bool:
        """``buf`` starts with ``<``: a credential element's start tag, or anything else."""
        body = buf[1:]
        found = _NAME_END.search(body, 0, MAX_NAME + 1)
        if found is None and len(body) <= MAX_NAME and not final:
            return False  # the name may go on in the next piece
        name = body[: found.start()] if found is not None else ""
        local = name.rpartition(":")[2]
        if found is not None and local in SECRET_ELEMENTS and name[:1] not in ("/", "!", "?"):
            out.append("<" + name)
            self._buffer = body[len(name) :]
            self._mode = _Mode.SECRET_TAG
            self._slash = False
            self._closing = "</" + name
            return True
        out.append("<")
        self._buffer = body
        return True

    def _end_tag(self, out: list[str], buf: str, *, final: bool) -> bool:
        """``buf`` starts with ``<`` inside hidden content: the end tag, or more content."""
        closing = self._closing
        if not buf.startswith(closing):
            if closing.startswith(buf) and not final:
                return False  # may be the end tag, cut short
            self._hidden = True
            self._buffer = buf[1:]
            return True
        rest = buf[len(closing) :]
        spaces = 0
        while spaces < len(rest) and rest[spaces] in _SPACE and spaces <= MAX_END_TAG_SPACE:
            spaces += 1
        if spaces < len(rest) and rest[spaces] == ">" and spaces <= MAX_END_TAG_SPACE:
            tag_length = len(closing) + spaces + 1
            if self._hidden:
                out.append(REDACTED)
            out.append(buf[:tag_length])
            self._buffer = buf[tag_length:]
            self._mode = _Mode.TEXT
            self._hidden = False
            return True
        if spaces == len(rest) and spaces <= MAX_END_TAG_SPACE and not final:
            return False  # the end tag may still close in the next piece
        self._hidden = True
        self._buffer = buf[1:]
        return True


# ---------------------------------------------------------------------------- REST side

#: Header names (lower case) whose values are credentials.
SECRET_HEADERS = frozenset(
    {"cb-token", "authorization", "proxy-authorization", "cookie", "set-cookie"}
)

#: JSON field and URL parameter names (lower case) whose values are credentials.
SECRET_FIELDS = frozenset(
    {
        "password",
        "old_password",
        "token",
        "signature",
        "auth_key",
        "authorization_key",
        "authorization_secret",
        "secret",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "policy",
    }
)

_JSON_FIELD = re.compile(r'"([A-Za-z_][\w-]*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*)')
_URL_PARAM = re.compile(r"([?&])([^=&#]+)=([^&#]*)")


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers with every credential value replaced by ``[redacted]``."""
    return [
        (name, REDACTED if name.lower() in SECRET_HEADERS else value) for name, value in headers
    ]


def redact_json_text(text: str) -> str:
    """JSON (or JSON-like) text with the values of credential fields replaced.

    Works on text, not on a parsed document, so that a body that is not valid JSON is
    redacted too; a string or number value of a field named in :data:`SECRET_FIELDS` (any
    case) becomes ``"[redacted]"``.
    """

    def hide(match: re.Match[str]) -> str:
        if match.group(1).lower() in SECRET_FIELDS:
            return f'"{match.group(1)}"{match.group(2)}"{REDACTED}"'
        return match.group(0)

    return _JSON_FIELD.sub(hide, text)


def redact_url(url: str) -> str:
    """A URL with the values of credential query parameters replaced (signed blob URLs)."""

    def hide(match: re.Match[str]) -> str:
        if match.group(2).lower() in SECRET_FIELDS:
            return f"{match.group(1)}{match.group(2)}={REDACTED}"
        return match.group(0)

    return _URL_PARAM.sub(hide, url)


# ---------------------------------------------------------------------------- sentences


def describe(event: object) -> str:
    """One sentence saying what ``event`` means, for a log line or an exception message.

    Knows the connection's events (closing, authentication, resumption, delivery
    outcomes) and the reconnecting supervisor's; any other event is shown as its type and
    fields.  States only what the event says: where the cause is unknown, it says so.
    """
    describer = _DESCRIBERS.get(type(event))
    if describer is not None:
        return describer(event)
    return _fields(event)


def _fields(event: object) -> str:
    name = type(event).__name__
    if not is_dataclass(event):
        return name
    parts = []
    for field in fields(event):
        value = getattr(event, field.name)
        if value is None or value == "" or value == b"":
            continue
        shown = value.value if isinstance(value, enum.Enum) else value
        text = repr(shown)
        if len(text) > 80:
            text = text[:77] + "..."
        parts.append(f"{field.name}={text}")
    return f"{name}({', '.join(parts)})"


def _closed(event: ConnectionClosed) -> str:
    reason = event.reason
    condition = event.condition.value if event.condition is not None else None
    detail = f": {event.text}" if event.text else ""
    if reason is CloseReason.LOCAL:
        sentence = "the connection was closed by this client"
    elif reason is CloseReason.REMOTE:
        sentence = f"the server closed the connection{detail or ' without saying why'}"
    elif reason is CloseReason.STREAM_ERROR_RECEIVED:
        sentence = f"the server ended the stream with the error {condition or 'unknown'}{detail}"
    elif reason is CloseReason.PROTOCOL_ERROR:
        what = f" ({event.error})" if event.error is not None else ""
        sentence = (
            f"the server broke the protocol{what}; "
            f"this client ended the stream with {condition or 'an error'}"
        )
    elif reason is CloseReason.AUTH_FAILED:
        sentence = f"authentication failed{detail}"
    elif reason is CloseReason.DEAD:
        sentence = "the connection is dead: the server stopped answering"
    else:
        sentence = f"negotiation with the server failed{detail}"
    if event.resumable:
        sentence += " (the session can be resumed)"
    return sentence


def _auth_failed(event: AuthenticationFailed) -> str:
    sentence = f"authentication failed: the server answered {event.condition_name}"
    if event.condition_name == "not-authorized":
        sentence += " (the user id or the password/token was not accepted)"
    if event.text:
        sentence += f": {event.text}"
    return sentence


def _connected(event: Connected) -> str:
    return f"connected as {event.jid}" + (" (previous session resumed)" if event.resumed else "")


def _resumed(event: StreamResumed) -> str:
    return (
        f"session {event.previous_id} resumed; {event.resent} unacknowledged stanza(s) sent again"
    )


def _resume_failed(event: ResumeFailed) -> str:
    why = event.condition_name or "no reason given"
    return f"the server refused to resume the session ({why}); binding a fresh session"


def _sm_enabled(event: StreamManagementEnabled) -> str:
    if event.resume_id is None:
        return "stream management enabled (no resumption)"
    limit = f", for up to {event.max_resume_seconds} s" if event.max_resume_seconds else ""
    return f"stream management enabled; the session can be resumed{limit}"


def _iq_failed(event: IqFailed) -> str:
    if event.error is not None:
        return f"request {event.iq_id} failed: {event.error}"
    return f"request {event.iq_id} got an answer that could not be read: {event.reason}"


def _stanza_error(error: StanzaError) -> str:
    return error.condition_name + (f" ({error.text})" if error.text else "")


def _bounced(event: MessageBounced) -> str:
    source = event.from_jid or "the server"
    return f"message {event.message_id} was refused by {source}: {_stanza_error(event.error)}"


def _rejected(event: MessageRejected) -> str:
    condition = event.condition.value if event.condition is not None else "no condition"
    return (
        f"message {event.message_id} was dropped: the server ended the stream right after it "
        f"twice ({condition})"
    )


def _disconnected(event: Disconnected) -> str:
    if event.closed is not None:
        sentence = f"disconnected: {_closed(event.closed)}"
    else:
        sentence = f"could not connect: {event.error or 'unknown error'}"
    if event.reconnect_in is None:
        return sentence + "; not reconnecting"
    plan = "resuming the session" if event.resumable else "with a fresh session"
    return (
        f"{sentence}; reconnecting in {event.reconnect_in:.1f} s ({plan}, attempt {event.attempt})"
    )


def _reconnected(event: Reconnected) -> str:
    if event.resumed:
        return f"reconnected as {event.jid}; the session was resumed, nothing lost"
    return f"reconnected as {event.jid} with a fresh session (dialogs re-joined)"


_DESCRIBERS: dict[type, Callable[[Any], str]] = {}


def _register() -> None:
    table: dict[type, Callable[[Any], str]] = {
        Disconnected: _disconnected,
        Reconnected: _reconnected,
        ConnectionClosed: _closed,
        AuthenticationFailed: _auth_failed,
        Authenticated: lambda e: f"authenticated with {e.mechanism}",
        Bound: lambda e: f"resource bound: {e.jid}",
        Connected: _connected,
        StreamOpened: lambda e: f"stream opened by {e.server or 'the server'}",
        TlsUpgradeRequired: lambda e: "the server accepted STARTTLS; starting TLS",
        StreamManagementEnabled: _sm_enabled,
        StreamResumed: _resumed,
        ResumeFailed: _resume_failed,
        MessageSent: lambda e: f"message {e.message_id} acknowledged by the server",
        MessageLost: lambda e: (
            f"message {e.message_id} was not delivered: the server says it never received it"
        ),
        MessageUnconfirmed: lambda e: (
            f"message {e.message_id}: unknown whether it arrived (the session ended before "
            "the server acknowledged it)"
        ),
        MessageRejected: _rejected,
        MessageBounced: _bounced,
        DialogJoinFailed: lambda e: (
            f"joining dialog {e.dialog_id} was refused: {_stanza_error(e.error)}"
        ),
        PingTimedOut: lambda e: f"ping {e.ping_id} got no answer in time",
        IqTimedOut: lambda e: f"request {e.iq_id} got no answer in time",
        IqFailed: _iq_failed,
        MalformedStanza: lambda e: f"a stanza could not be interpreted ({e.reason}); ignored",
        ConnectionDead: lambda e: (
            f"the connection is dead: no answer to a ping after {e.idle_seconds:g} s idle"
        ),
    }
    _DESCRIBERS.update(table)


_register()
