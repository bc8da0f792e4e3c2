"""``ChatSession``: the chat layer's :class:`~cubeproto.commands.StanzaHandler`.

The connection hands it every inbound ``<message>``, ``<presence>`` and ``<iq>`` it did
not consume, tells it what was sent and what stream management settled; the session
answers with chat events and reply stanzas.  It owns the chat layer's only state, all of
it bounded:

* the duplicate-suppression window (:mod:`cubeproto.chat.dedup`),
* the delivery tracker (:mod:`cubeproto.chat.delivery`),
* the rooms we asked to join or joined (bounded by what the application joins).

``handle_stanza`` never raises for peer input: a malformed stanza becomes
:class:`~cubeproto.events.MalformedStanza` with its raw bytes, and the stream goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from .._records import fast_constructor
from .._xmlstream import element_bytes
from ..commands import HandlerResult, OutboundStanza, StanzaCommand, StanzaContext
from ..errors import LocalProtocolError
from ..events import Event, MalformedStanza, UnhandledStanza
from . import _ns as ns
from ._escape import attr as escape_attr
from ._escape import plain
from ._escape import text as escape_text
from ._fault import StanzaFault
from .activity import classify_iq
from .classify import Identity, classify_message
from .commands import (
    ClientStateMode,
    JoinDialog,
    LeaveDialog,
    SendMessage,
    SendSystemMessage,
    SetClientState,
)
from .dedup import DEFAULT_DEDUP_WINDOW, DedupWindow
from .delivery import DEFAULT_DELIVERY_WINDOW, DeliveryTracker
from .events import (
    DeliveryStatus,
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    MessageBounced,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    SystemMessageReceived,
)
from .jid import user_jid
from .muc import classify_presence

__all__ = ["MAX_PENDING_JOINS", "ChatOptions", "ChatSession"]

#: Joins we wait for at once; beyond this the oldest pending join is forgotten (its
#: answer still arrives as DialogJoined/DialogJoinFailed, found by the room JID).
MAX_PENDING_JOINS = 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatOptions:
    """Chat-layer settings.

    * ``auto_delivered_receipts``: answer every incoming message from someone else that
      carries a dialog id with a delivered marker, as the SDK does (carbon copies are not
      answered: the device that received the message answers).
    * ``dedup_window``: message ids remembered for duplicate suppression.
    * ``delivery_window``: sent messages whose delivery status is tracked.
    * ``mark_active_mode``: how :meth:`ChatSession.client_state` marks us active/inactive:
      ``mobile`` (the SDK's Tigase IQ), ``csi`` (XEP-0352) or ``auto`` (CSI when the server
      advertises ``urn:xmpp:csi:0``).
    """

    auto_delivered_receipts: bool = True
    dedup_window: int = DEFAULT_DEDUP_WINDOW
    delivery_window: int = DEFAULT_DELIVERY_WINDOW
    mark_active_mode: ClientStateMode = "auto"

    def __post_init__(self) -> None:
        if self.dedup_window < 1 or self.delivery_window < 1:
            raise LocalProtocolError("the dedup and delivery windows hold at least one id")
        if self.mark_active_mode not in ("auto", "mobile", "csi"):
            raise LocalProtocolError(f"mark_active_mode: {self.mark_active_mode!r}")


_new_result = fast_constructor(HandlerResult)
_new_stanza = fast_constructor(OutboundStanza)
#: The result of a stanza that leads to nothing (shared: it is immutable).
_NOTHING = HandlerResult()

_TOP_MESSAGE = frozenset({"message", "{jabber:client}message"})
_TOP_PRESENCE = frozenset({"presence", "{jabber:client}presence"})
_TOP_IQ = frozenset({"iq", "{jabber:client}iq"})


class ChatSession:
    """The chat layer of one client session (implements ``StanzaHandler``)."""

    __slots__ = ("_dedup", "_delivery", "_identity", "_joined", "_pending_joins", "options")

    def __init__(self, options: ChatOptions | None = None) -> None:
        self.options = options if options is not None else ChatOptions()
        self._dedup = DedupWindow(self.options.dedup_window)
        self._delivery = DeliveryTracker(self.options.delivery_window)
        self._identity: Identity | None = None
        # lower-cased dialog id -> the application's spelling
        self._pending_joins: dict[str, str] = {}
        self._joined: dict[str, str] = {}

    # -- StanzaHandler ---------------------------------------------------------------

    def handle_stanza(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult:
        """Classify one inbound stanza; never raises for peer input."""
        tag = element.tag
        try:
            if tag in _TOP_MESSAGE:
                return self._message(element, ctx)
            if tag in _TOP_PRESENCE:
                return _new_result(events=self._presence(element, ctx))
            if tag in _TOP_IQ:
                events, replies = classify_iq(element)
                return _new_result(events=events, replies=replies)
        except StanzaFault as fault:
            return _new_result(events=(_malformed(element, str(fault)),))
        except LocalProtocolError as exc:  # a reply we could not build from peer values
            return _new_result(events=(_malformed(element, f"cannot answer: {exc}"),))
        return _new_result(events=(UnhandledStanza.of_element(element),))

    def stanza_sent(self, command: StanzaCommand, stanza: OutboundStanza) -> Sequence[Event]:
        """Start tracking what was sent: a message's delivery status, a pending join."""
        if isinstance(command, (SendMessage, SendSystemMessage)) and stanza.stanza_id:
            return self._delivery.queued(stanza.stanza_id)
        if isinstance(command, JoinDialog):
            key = command.dialog_id.lower()
            self._pending_joins.pop(key, None)
            self._pending_joins[key] = command.dialog_id
            while len(self._pending_joins) > MAX_PENDING_JOINS:
                del self._pending_joins[next(iter(self._pending_joins))]
        elif isinstance(command, LeaveDialog):
            self._pending_joins.pop(command.dialog_id.lower(), None)
        return ()

    def message_acked(self, message_id: str) -> Sequence[Event]:
        """Stream management acknowledged the message: ``SENT``."""
        return self._delivery.advance(message_id, DeliveryStatus.SENT)

    def message_lost(self, message_id: str) -> Sequence[Event]:
        """Stream management gave the message up: ``FAILED``."""
        return self._delivery.advance(message_id, DeliveryStatus.FAILED)

    # -- helpers for the application -------------------------------------------------

    def client_state(self, active: bool) -> SetClientState:
        """The markActive/markInactive command in the configured mode."""
        return SetClientState(active=active, mode=self.options.mark_active_mode)

    def delivery_status(self, message_id: str) -> DeliveryStatus | None:
        """The tracked delivery status of a message we sent, if still remembered."""
        return self._delivery.status(message_id)

    @property
    def joined_dialogs(self) -> frozenset[str]:
        """Dialogs we joined (and did not leave) on this session."""
        return frozenset(self._joined.values())

    def fresh_session(self) -> None:
        """The server refused to resume and a fresh session replaces the old one: it is
        in no room any more, so joins (the automatic re-joins among them) report
        ``DialogJoined`` again.  Called by :class:`~cubeproto.reconnect.Supervisor`."""
        self._joined.clear()
        self._pending_joins.clear()

    # -- internals -------------------------------------------------------------------

    def _me(self, ctx: StanzaContext) -> Identity:
        identity = self._identity
        if identity is None or identity.full_jid != ctx.jid or identity.user_id != ctx.user_id:
            identity = self._identity = Identity.from_jid(ctx.jid, ctx.user_id)
        return identity

    def _message(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult:
        me = self._me(ctx)
        events = classify_message(element, me)
        if not events:
            return _NOTHING
        event = events[0]
        if type(event) is MessageReceived and len(events) == 1:
            # The common case, written out: one message, deduplicated, maybe a receipt.
            message_id = event.message_id
            if message_id is not None and not self._dedup.first_time(message_id):
                return _NOTHING
            if (
                message_id is not None
                and event.dialog_id is not None
                and event.carbon is None
                and event.sender_id is not None
                and event.sender_id != me.user_id
                and self.options.auto_delivered_receipts
            ):
                return _new_result(events=events, replies=(_delivered_receipt(event, ctx),))
            return _new_result(events=events, replies=())
        out: list[Event] = []
        replies: list[OutboundStanza] = []
        for event in events:
            if isinstance(event, MessageReceived):
                if event.message_id is not None and not self._dedup.first_time(event.message_id):
                    continue
                out.append(event)
                if (
                    self.options.auto_delivered_receipts
                    and event.carbon is None
                    and event.message_id is not None
                    and event.dialog_id is not None
                    and event.sender_id is not None
                    and event.sender_id != me.user_id
                ):
                    replies.append(_delivered_receipt(event, ctx))
            elif isinstance(event, SystemMessageReceived):
                if event.message_id is None or self._dedup.first_time(event.message_id):
                    out.append(event)
            elif isinstance(event, MessageEdited):
                if event.edit_id is None or self._dedup.first_time(event.edit_id):
                    out.append(event)
            elif isinstance(event, (MessageDelivered, MessageRead)):
                out.append(event)
                if event.user_id != me.user_id:
                    status = (
                        DeliveryStatus.DELIVERED
                        if isinstance(event, MessageDelivered)
                        else DeliveryStatus.READ
                    )
                    out.extend(self._delivery.advance(event.message_id, status))
            elif isinstance(event, MessageBounced):
                out.append(event)
                if event.message_id is not None:
                    out.extend(self._delivery.advance(event.message_id, DeliveryStatus.FAILED))
            else:
                out.append(event)
        return _new_result(events=tuple(out), replies=tuple(replies))

    def _presence(self, element: etree._Element, ctx: StanzaContext) -> tuple[Event, ...]:
        known = {**self._joined, **self._pending_joins} if self._pending_joins else self._joined
        events = classify_presence(element, self._me(ctx), known)
        out: list[Event] = []
        for event in events:
            if isinstance(event, DialogJoined):
                key = event.dialog_id.lower()
                was_pending = self._pending_joins.pop(key, None) is not None
                if key in self._joined:
                    continue  # a repeated self-presence (e.g. a role change)
                if was_pending:
                    self._joined[key] = event.dialog_id
            elif isinstance(event, DialogJoinFailed):
                self._pending_joins.pop(event.dialog_id.lower(), None)
            elif isinstance(event, DialogLeft):
                self._joined.pop(event.dialog_id.lower(), None)
            out.append(event)
        return tuple(out)


def _delivered_receipt(event: MessageReceived, ctx: StanzaContext) -> OutboundStanza:
    """The SDK's automatic delivered marker (what ``SendMarker(kind=RECEIVED)`` builds),
    written directly: it answers most inbound messages, so it is on the hot path."""
    assert event.message_id is not None and event.sender_id is not None
    assert event.dialog_id is not None
    key = (event.sender_id, ctx.app_id, ctx.chat_host)
    to = _RECEIPT_TO.get(key)
    if to is None:
        if len(_RECEIPT_TO) >= _MAX_RECEIPT_TO:
            _RECEIPT_TO.clear()
        to = _RECEIPT_TO[key] = escape_attr(user_jid(*key))
    mid = ctx.new_message_id()
    id_attr, marked, dialog = mid, event.message_id, event.dialog_id
    if not plain(id_attr + marked + dialog):  # one check for all three (usually plain hex)
        id_attr, marked, dialog = escape_attr(id_attr), escape_attr(marked), escape_text(dialog)
    xml = (
        f'<message type="chat" id="{id_attr}" to="{to}">'
        f'<received xmlns="{ns.MARKERS}" id="{marked}"/>'
        f'<extraParams xmlns="jabber:client"><dialog_id>{dialog}</dialog_id></extraParams>'
        "</message>"
    )
    return _new_stanza(xml=xml, stanza_id=mid)


#: Escaped bare JIDs of recent senders (bounded; cleared when full).
_RECEIPT_TO: dict[tuple[int, int, str], str] = {}
_MAX_RECEIPT_TO = 1024


def _malformed(element: etree._Element, reason: str) -> MalformedStanza:
    return MalformedStanza(raw=element_bytes(element), reason=reason)
