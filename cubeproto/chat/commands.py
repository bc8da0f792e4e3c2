"""Chat commands: each is one stanza (or nonza) that the connection builds and sends.

Every command is a frozen, keyword-only dataclass that validates at construction (a bad
value raises :class:`~cubeproto.errors.LocalProtocolError` before anything is queued) and
builds its XML as a string in :meth:`build`.  The shapes are the official JS SDK 6.1.2's;
where we differ it is said in the class docstring.

Addressing follows the SDK: ``to_user`` (a user id) sends a 1-1
``type="chat"`` stanza to the user's **bare** JID; ``to_dialog`` (a group dialog id)
sends ``type="groupchat"`` to the room JID ``{appId}_{dialogId}@{mucHost}``.  Exactly one
of the two is given.  Markers always go 1-1 (``type="chat"``), as the SDK sends them.

Unlike the SDK we do not write ``from`` (RFC 6120 section 8.1.2.1: the server stamps it).

:class:`SendMessage`, the outbound hot path, declares its fields as a dataclass but writes
its ``__init__`` by hand (``init=False``): it validates and encodes the payload once, then
stores every field at once (:func:`cubeproto._records.field_storer`).  It is as frozen,
comparable, hashable and replaceable as the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .._memo import remember
from .._records import fast_constructor, field_storer
from ..commands import DEFAULT_IQ_TIMEOUT, OutboundStanza, StanzaCommand, StanzaContext
from ..errors import LocalProtocolError
from . import _ns as ns
from ._escape import attr as escape_attr
from ._escape import text as escape_text
from .events import ChatState, MarkerKind
from .extension import ExtensionValue, encode_extension_children
from .jid import occupant_jid, room_jid, user_jid

__all__ = [
    "RESERVED_EXTENSION_KEYS",
    "ClientStateMode",
    "DeleteMessage",
    "EditMessage",
    "GetLastActivity",
    "GetOnlineUsers",
    "JoinDialog",
    "LeaveDialog",
    "SendChatState",
    "SendMarker",
    "SendMessage",
    "SendSystemMessage",
    "SetClientState",
    "SubscribeLastActivity",
]

#: Extension keys that commands write from their own fields (passing them inside
#: ``extension`` as well would duplicate them on the wire).
RESERVED_EXTENSION_KEYS = frozenset(
    {"save_to_history", "dialog_id", "date_sent", "silent", "markable", "moduleIdentifier"}
)

ClientStateMode = Literal["auto", "mobile", "csi"]


def _check_str(value: object, what: str, *, allow_empty: bool = False) -> None:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise LocalProtocolError(f"{what} must be a non-empty string, not {value!r}")


def _check_opt_str(value: object, what: str) -> None:
    if value is not None:
        _check_str(value, what)


def _check_user(value: object, what: str = "user id") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise LocalProtocolError(f"{what} must be a positive int, not {value!r}")


def _check_target(to_user: int | None, to_dialog: str | None) -> None:
    if (to_user is None) == (to_dialog is None):
        raise LocalProtocolError("give exactly one of to_user (1-1) and to_dialog (group)")
    if to_user is not None:
        _check_user(to_user, "to_user")
    else:
        _check_str(to_dialog, "to_dialog")


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise LocalProtocolError(f"timeout must be a positive number of seconds: {timeout!r}")


#: Escaped ``to`` attribute values by (target, app id, host): building a JID prepares and
#: checks its parts, and a client writes to the same few peers and rooms over and over.
#: Bounded: cleared when full.
_TO_CACHE: dict[tuple[int | str, int, str], str] = {}
_MAX_TO_CACHE = 4096


_new_stanza = fast_constructor(OutboundStanza)


def _target(ctx: StanzaContext, to_user: int | None, to_dialog: str | None) -> tuple[str, str]:
    """``(escaped to, type)`` for a target: a user's bare JID and ``chat``, or a room JID and
    ``groupchat``."""
    if to_user is not None:
        key: tuple[int | str, int, str] = (to_user, ctx.app_id, ctx.chat_host)
        to = _TO_CACHE.get(key)
        if to is None:
            to = _cache_to(key, escape_attr(user_jid(to_user, ctx.app_id, ctx.chat_host)))
        return to, "chat"
    assert to_dialog is not None  # guaranteed by _check_target at construction
    key = (to_dialog, ctx.app_id, ctx.muc_host)
    to = _TO_CACHE.get(key)
    if to is None:
        to = _cache_to(key, escape_attr(room_jid(to_dialog, ctx.app_id, ctx.muc_host)))
    return to, "groupchat"


def _cache_to(key: tuple[int | str, int, str], to: str) -> str:
    return remember(_TO_CACHE, key, to, _MAX_TO_CACHE)


#: ``<message to="..." type="..." id="`` by (target, app id, host), for
#: :meth:`SendMessage.build`; bounded like :data:`_TO_CACHE`.
_MESSAGE_STARTS: dict[tuple[int | str, int, str], str] = {}


def _message_start(
    ctx: StanzaContext, to_user: int | None, to_dialog: str | None, key: tuple[int | str, int, str]
) -> str:
    to, type_ = _target(ctx, to_user, to_dialog)
    start = f'<message to="{to}" type="{type_}" id="'
    return remember(_MESSAGE_STARTS, key, start, _MAX_TO_CACHE)


#: ``<dialog_id>...</dialog_id>`` (escaped) by dialog id: like recipients, the same few
#: dialogs recur in every message.  Bounded like :data:`_TO_CACHE`.
_DIALOG_ELEMENTS: dict[str, str] = {}


def _dialog_element(dialog: str) -> str:
    element = f"<dialog_id>{escape_text(dialog)}</dialog_id>"
    return remember(_DIALOG_ELEMENTS, dialog, element, _MAX_TO_CACHE)


def _encode_ext(
    reserved: list[tuple[str, str]], extension: Mapping[str, ExtensionValue] | None
) -> str:
    """The escaped children of ``<extraParams>``: reserved keys first, then the caller's."""
    out = [f"<{k}>{escape_text(v)}</{k}>" for k, v in reserved]
    if extension:
        clash = RESERVED_EXTENSION_KEYS.intersection(extension)
        if clash:
            raise LocalProtocolError(
                f"set {', '.join(sorted(clash))} with the command's own fields, not in extension"
            )
        encode_extension_children(extension, out)
    return "".join(out)


def _extra_params(children: str) -> str:
    return f'<extraParams xmlns="jabber:client">{children}</extraParams>' if children else ""


def _message_id(ctx: StanzaContext, given: str | None) -> str:
    return given if given is not None else ctx.new_message_id()


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class SendMessage(StanzaCommand):
    """Send a chat message.

    ``dialog_id`` goes into ``extraParams`` (for a group message it defaults to
    ``to_dialog``); ``save_to_history``, ``silent`` and ``markable`` are written as
    ``1`` when true and omitted when false; ``date_sent`` (unix seconds) is optional (the
    server fills it in).  ``extension`` holds any other keys (see
    :mod:`cubeproto.chat.extension`; ``attachments`` is a list of attribute mappings).
    ``message_id`` is made by the connection (a BSON ObjectId) unless given.

    Every message is ``countable``: its stream-management ack is reported
    (``MessageSent``) and it gets a delivery status, whether or not it has a body (the SDK
    tracks only messages with a body).

    This is the outbound hot path, so ``__init__`` is written by hand (the dataclass
    declares the fields, equality, hashing and ``repr``): it validates, encodes the
    payload once, and stores every field at once (:func:`cubeproto._records.field_storer`).
    """

    body: str | None = None
    to_user: int | None = None
    to_dialog: str | None = None
    message_id: str | None = None
    dialog_id: str | None = None
    extension: Mapping[str, ExtensionValue] | None = None
    save_to_history: bool = True
    silent: bool = False
    markable: bool = False
    date_sent: int | None = None
    #: the stanza from the end of the id's value on (``">...</message>``), made once
    _payload: str = field(init=False, default="", repr=False, compare=False)

    def __init__(
        self,
        *,
        body: str | None = None,
        to_user: int | None = None,
        to_dialog: str | None = None,
        message_id: str | None = None,
        dialog_id: str | None = None,
        extension: Mapping[str, ExtensionValue] | None = None,
        save_to_history: bool = True,
        silent: bool = False,
        markable: bool = False,
        date_sent: int | None = None,
    ) -> None:
        # Exact-type checks first; the general validators only to produce the error.
        if (to_dialog is not None or type(to_user) is not int or to_user <= 0) and (
            to_user is not None or type(to_dialog) is not str or not to_dialog
        ):
            _check_target(to_user, to_dialog)
        if body is not None and type(body) is not str:
            _check_str(body, "body", allow_empty=True)
        if message_id is not None:
            _check_str(message_id, "message_id")
        dialog = dialog_id
        if dialog is None:
            dialog = to_dialog
        elif type(dialog) is not str or not dialog:
            _check_str(dialog, "dialog_id")
        if date_sent is not None and type(date_sent) is not int:
            raise LocalProtocolError(f"date_sent is unix seconds (int): {date_sent!r}")
        # The payload -- everything after the id's value: build() puts the message's start
        # and the id before it -- is joined once.  parts[:3] is the body's place (filled in
        # last, once the extension is accepted), parts[3] opens extraParams.
        parts = ['">', "", "", '<extraParams xmlns="jabber:client">']
        if save_to_history:
            parts.append("<save_to_history>1</save_to_history>")
        if dialog is not None:
            element = _DIALOG_ELEMENTS.get(dialog)
            parts.append(_dialog_element(dialog) if element is None else element)
        if date_sent is not None:
            parts.append(f"<date_sent>{date_sent}</date_sent>")
        if silent:
            parts.append("<silent>1</silent>")
        if markable:
            parts.append("<markable>1</markable>")
        if extension:
            if not RESERVED_EXTENSION_KEYS.isdisjoint(extension):
                clash = sorted(RESERVED_EXTENSION_KEYS.intersection(extension))
                raise LocalProtocolError(
                    f"set {', '.join(clash)} with the command's own fields, not in extension"
                )
            encode_extension_children(extension, parts)
        if body is not None:
            parts[0] = '"><body>'
            parts[1] = escape_text(body)
            parts[2] = "</body>"
        if len(parts) > 4:
            parts.append("</extraParams></message>")
        else:  # nothing in extraParams: leave it out
            parts[3] = "</message>"
        payload = "".join(parts)
        _store_send_message(
            self,
            body,
            to_user,
            to_dialog,
            message_id,
            dialog_id,
            extension,
            save_to_history,
            silent,
            markable,
            date_sent,
            payload,  # _payload
        )

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message type="chat|groupchat" to id><body/><extraParams/></message>``."""
        to_user = self.to_user
        if to_user is not None:
            key: tuple[int | str, int, str] = (to_user, ctx.app_id, ctx.chat_host)
        else:
            key = (self.to_dialog, ctx.app_id, ctx.muc_host)  # type: ignore[assignment]
        start = _MESSAGE_STARTS.get(key)
        if start is None:
            start = _message_start(ctx, to_user, self.to_dialog, key)
        mid = self.message_id
        if mid is None:
            # 24 hex digits (StanzaContext.new_message_id): nothing to escape
            mid = ctx.new_message_id()
            xml = f"{start}{mid}{self._payload}"
        else:
            xml = f"{start}{escape_attr(mid)}{self._payload}"
        return _new_stanza(xml=xml, stanza_id=mid, countable=True, kind="message")


#: Stores every field of a SendMessage, in declaration order (see __init__).
_store_send_message = field_storer(SendMessage)


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSystemMessage(StanzaCommand):
    """A system message: ``type="headline"`` to a user, with
    ``moduleIdentifier=SystemNotifications`` written first in ``extraParams``.

    As in the SDK, ``extraParams`` (and so ``moduleIdentifier``) is written only when an
    extension is given; note that receiving SDKs drop a system message without one.
    Countable, like :class:`SendMessage`.
    """

    to_user: int
    body: str | None = None
    extension: Mapping[str, ExtensionValue] | None = None
    message_id: str | None = None
    _payload: str = field(init=False, default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_user(self.to_user, "to_user")
        if self.body is not None:
            _check_str(self.body, "body", allow_empty=True)
        _check_opt_str(self.message_id, "message_id")
        body = "" if self.body is None else f"<body>{escape_text(self.body)}</body>"
        ext = ""
        if self.extension is not None:
            ext = _extra_params(
                _encode_ext([("moduleIdentifier", "SystemNotifications")], self.extension)
            )
        object.__setattr__(self, "_payload", body + ext)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message type="headline" to id>...</message>``."""
        to = user_jid(self.to_user, ctx.app_id, ctx.chat_host)
        mid = _message_id(ctx, self.message_id)
        xml = (
            f'<message type="headline" id="{escape_attr(mid)}" to="{escape_attr(to)}">'
            f"{self._payload}</message>"
        )
        return OutboundStanza(xml=xml, stanza_id=mid, countable=True, kind="message")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendChatState(StanzaCommand):
    """A typing notification (XEP-0085): no id, no body, no extraParams.

    The SDK sends only ``composing`` ("typing") and ``paused`` ("stopped"); any
    :class:`ChatState` may be sent.
    """

    state: ChatState
    to_user: int | None = None
    to_dialog: str | None = None

    def __post_init__(self) -> None:
        _check_target(self.to_user, self.to_dialog)
        if not isinstance(self.state, ChatState):
            raise LocalProtocolError(f"state must be a ChatState, not {self.state!r}")

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message to type><composing xmlns=chatstates/></message>``."""
        to, type_ = _target(ctx, self.to_user, self.to_dialog)
        xml = (
            f'<message to="{to}" type="{type_}">'
            f'<{self.state.value} xmlns="{ns.CHATSTATES}"/></message>'
        )
        return OutboundStanza(xml=xml, kind="message")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendMarker(StanzaCommand):
    """A delivered (``RECEIVED``) or read (``DISPLAYED``) marker for ``message_id``
    (XEP-0333): always ``type="chat"`` to the sender's user bare JID, even
    for a group message; ``dialog_id`` goes into ``extraParams``."""

    kind: MarkerKind
    message_id: str
    to_user: int
    dialog_id: str | None = None
    marker_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, MarkerKind):
            raise LocalProtocolError(f"kind must be a MarkerKind, not {self.kind!r}")
        _check_str(self.message_id, "message_id")
        _check_user(self.to_user, "to_user")
        _check_opt_str(self.dialog_id, "dialog_id")
        _check_opt_str(self.marker_id, "marker_id")
        escape_attr(self.message_id)
        if self.dialog_id is not None:
            escape_text(self.dialog_id)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message type="chat" id to><received xmlns=markers id/><extraParams/></message>``."""
        to = user_jid(self.to_user, ctx.app_id, ctx.chat_host)
        mid = _message_id(ctx, self.marker_id)
        ext = (
            ""
            if self.dialog_id is None
            else _extra_params(f"<dialog_id>{escape_text(self.dialog_id)}</dialog_id>")
        )
        xml = (
            f'<message type="chat" id="{escape_attr(mid)}" to="{escape_attr(to)}">'
            f'<{self.kind.value} xmlns="{ns.MARKERS}" id="{escape_attr(self.message_id)}"/>'
            f"{ext}</message>"
        )
        return OutboundStanza(xml=xml, stanza_id=mid, kind="message")


@dataclass(frozen=True, slots=True, kw_only=True)
class EditMessage(StanzaCommand):
    """Correct a sent message: new body plus
    ``<replace xmlns="urn:xmpp:message-correct:0" id last/>`` (``last`` is the string
    ``"true"``/``"false"``: the edited message is the dialog's newest)."""

    message_id: str
    body: str
    to_user: int | None = None
    to_dialog: str | None = None
    last: bool = False
    dialog_id: str | None = None
    extension: Mapping[str, ExtensionValue] | None = None
    edit_id: str | None = None
    _payload: str = field(init=False, default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_target(self.to_user, self.to_dialog)
        _check_str(self.message_id, "message_id")
        _check_str(self.body, "body", allow_empty=True)
        _check_opt_str(self.dialog_id, "dialog_id")
        _check_opt_str(self.edit_id, "edit_id")
        dialog = self.dialog_id if self.dialog_id is not None else self.to_dialog
        reserved = [] if dialog is None else [("dialog_id", dialog)]
        payload = (
            f"<body>{escape_text(self.body)}</body>"
            f'<replace xmlns="{ns.CORRECT}" id="{escape_attr(self.message_id)}" '
            f'last="{"true" if self.last else "false"}"/>'
            f"{_extra_params(_encode_ext(reserved, self.extension))}"
        )
        object.__setattr__(self, "_payload", payload)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message to type id><body/><replace/><extraParams/></message>``."""
        to, type_ = _target(ctx, self.to_user, self.to_dialog)
        mid = _message_id(ctx, self.edit_id)
        xml = f'<message to="{to}" type="{type_}" id="{escape_attr(mid)}">{self._payload}</message>'
        return OutboundStanza(xml=xml, stanza_id=mid, kind="message")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteMessage(StanzaCommand):
    """Delete a message for everyone:
    ``<remove xmlns="urn:xmpp:message-delete:0" id/>``."""

    message_id: str
    to_user: int | None = None
    to_dialog: str | None = None
    dialog_id: str | None = None
    delete_id: str | None = None

    def __post_init__(self) -> None:
        _check_target(self.to_user, self.to_dialog)
        _check_str(self.message_id, "message_id")
        _check_opt_str(self.dialog_id, "dialog_id")
        _check_opt_str(self.delete_id, "delete_id")
        escape_attr(self.message_id)
        if self.dialog_id is not None:
            escape_text(self.dialog_id)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<message to type id><remove id/><extraParams/></message>``."""
        to, type_ = _target(ctx, self.to_user, self.to_dialog)
        mid = _message_id(ctx, self.delete_id)
        dialog = self.dialog_id if self.dialog_id is not None else self.to_dialog
        ext = (
            "" if dialog is None else _extra_params(f"<dialog_id>{escape_text(dialog)}</dialog_id>")
        )
        xml = (
            f'<message to="{to}" type="{type_}" id="{escape_attr(mid)}">'
            f'<remove xmlns="{ns.DELETE}" id="{escape_attr(self.message_id)}"/>{ext}</message>'
        )
        return OutboundStanza(xml=xml, stanza_id=mid, kind="message")


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinDialog(StanzaCommand):
    """Join a group dialog's room: presence to ``room/{myUserId}`` with
    ``<x xmlns=muc><history maxstanzas="0"/></x>``, id ``{uuid}:join``.

    Resolves (unlike the SDK's) as ``DialogJoined`` on our self-presence (status 110) or
    ``DialogJoinFailed`` on an error presence.
    """

    dialog_id: str

    def __post_init__(self) -> None:
        _check_str(self.dialog_id, "dialog_id")

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<presence id to="room/me"><x xmlns=muc><history maxstanzas="0"/></x></presence>``."""
        to = occupant_jid(room_jid(self.dialog_id, ctx.app_id, ctx.muc_host), ctx.user_id)
        pid = ctx.new_iq_id("join")
        xml = (
            f'<presence id="{escape_attr(pid)}" to="{escape_attr(to)}">'
            f'<x xmlns="{ns.MUC}"><history maxstanzas="0"/></x></presence>'
        )
        return OutboundStanza(xml=xml, stanza_id=pid, kind="presence")


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaveDialog(StanzaCommand):
    """Leave a room: unavailable presence to ``room/{myUserId}``.
    Resolves as ``DialogLeft`` on our unavailable self-presence."""

    dialog_id: str

    def __post_init__(self) -> None:
        _check_str(self.dialog_id, "dialog_id")

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<presence type="unavailable" to="room/me"/>``."""
        to = occupant_jid(room_jid(self.dialog_id, ctx.app_id, ctx.muc_host), ctx.user_id)
        return OutboundStanza(
            xml=f'<presence type="unavailable" to="{escape_attr(to)}"/>', kind="presence"
        )


def _iq(type_: str, iq_id: str, payload: str, to: str | None = None) -> str:
    to_attr = "" if to is None else f' to="{escape_attr(to)}"'
    return f'<iq type="{type_}" id="{escape_attr(iq_id)}"{to_attr}>{payload}</iq>'


@dataclass(frozen=True, slots=True, kw_only=True)
class GetOnlineUsers(StanzaCommand):
    """Ask a room for its occupants (disco#items); answered with
    ``OnlineUsers``."""

    dialog_id: str
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_str(self.dialog_id, "dialog_id")
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="get" to=room id><query xmlns=disco#items/></iq>``."""
        from .muc import online_users_parser

        to = room_jid(self.dialog_id, ctx.app_id, ctx.muc_host)
        iq_id = ctx.new_iq_id("muc_disco_items")
        return OutboundStanza(
            xml=_iq("get", iq_id, f'<query xmlns="{ns.DISCO_ITEMS}"/>', to),
            stanza_id=iq_id,
            result_parser=online_users_parser(self.dialog_id),
            to=to,
            timeout=self.timeout,
            kind="iq",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GetLastActivity(StanzaCommand):
    """Ask for a user's last activity (XEP-0012); answered with
    ``LastActivity``."""

    user_id: int
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_user(self.user_id)
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="get" to=user id><query xmlns="jabber:iq:last"/></iq>``."""
        from .activity import last_activity_parser

        to = user_jid(self.user_id, ctx.app_id, ctx.chat_host)
        iq_id = ctx.new_iq_id("lastActivity")
        return OutboundStanza(
            xml=_iq("get", iq_id, f'<query xmlns="{ns.LAST}"/>', to),
            stanza_id=iq_id,
            result_parser=last_activity_parser(self.user_id),
            to=to,
            timeout=self.timeout,
            kind="iq",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscribeLastActivity(StanzaCommand):
    """Subscribe to (``enable``) or unsubscribe from a user's last-activity updates
    (ConnectyCube status_streaming).  Pushed updates arrive as
    ``LastActivity``; the answer as ``LastActivitySubscriptionChanged``."""

    user_id: int
    enable: bool = True
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_user(self.user_id)
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="set" id><subscribe xmlns=status_streaming user_jid enable/></iq>``."""
        from .activity import subscription_parser

        jid = user_jid(self.user_id, ctx.app_id, ctx.chat_host)
        iq_id = ctx.new_iq_id("statusStreaming")
        payload = (
            f'<subscribe xmlns="{ns.STATUS_STREAMING}" user_jid="{escape_attr(jid)}" '
            f'enable="{"true" if self.enable else "false"}"/>'
        )
        return OutboundStanza(
            xml=_iq("set", iq_id, payload),
            stanza_id=iq_id,
            result_parser=subscription_parser(self.user_id, self.enable),
            to=None,
            timeout=self.timeout,
            kind="iq",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SetClientState(StanzaCommand):
    """markActive (``active=True``) / markInactive.

    ``mode="mobile"``: the Tigase ``<mobile xmlns="http://tigase.org/protocol/mobile#v2"
    enable/>`` IQ the SDK sends (``enable="true"`` means *inactive*; both use the
    ``markActive`` id suffix), answered with ``ClientStateChanged``.  ``mode="csi"``: the
    XEP-0352 nonza ``<active/>``/``<inactive/>`` (not a stanza: no id, no answer, not
    counted by stream management).  ``mode="auto"``: CSI when the server advertised
    ``urn:xmpp:csi:0``, else the Tigase IQ.
    """

    active: bool
    mode: ClientStateMode = "auto"
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "mobile", "csi"):
            raise LocalProtocolError(f"mode is auto, mobile or csi, not {self.mode!r}")
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """The IQ or the CSI nonza, as ``mode`` and the server's features decide."""
        from .activity import client_state_parser

        use_csi = self.mode == "csi" or (self.mode == "auto" and ns.CSI in ctx.features)
        if use_csi:
            name = "active" if self.active else "inactive"
            return OutboundStanza(xml=f'<{name} xmlns="{ns.CSI}"/>', kind="nonza")
        iq_id = ctx.new_iq_id("markActive")
        payload = f'<mobile xmlns="{ns.MOBILE}" enable="{"false" if self.active else "true"}"/>'
        return OutboundStanza(
            xml=_iq("set", iq_id, payload),
            stanza_id=iq_id,
            result_parser=client_state_parser(self.active),
            to=None,
            timeout=self.timeout,
            kind="iq",
        )
