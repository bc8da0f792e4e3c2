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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .._checkpoint import CheckpointError
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
from .dedup import DEFAULT_DEDUP_WINDOW, ConfirmedDedup, DedupWindow
from .delivery import DEFAULT_DELIVERY_WINDOW, DeliveryTracker
from .events import (
    ChatStateChanged,
    DeliveryStatus,
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    OccupantJoined,
    OccupantLeft,
    ReactionsChanged,
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

_STATUS_VALUES = frozenset(status.value for status in DeliveryStatus)

_TOP_MESSAGE = frozenset({"message", "{jabber:client}message"})
_TOP_PRESENCE = frozenset({"presence", "{jabber:client}presence"})
_TOP_IQ = frozenset({"iq", "{jabber:client}iq"})


class ChatSession:
    """The chat layer of one client session (implements ``StanzaHandler``)."""

    __slots__ = (
        "_dedup",
        "_delivery",
        "_identity",
        "_joined",
        "_pending_joins",
        "_receipt_to_suffix",
        "options",
    )

    def __init__(self, options: ChatOptions | None = None) -> None:
        self.options = options if options is not None else ChatOptions()
        self._dedup: DedupWindow | ConfirmedDedup = DedupWindow(self.options.dedup_window)
        self._delivery = DeliveryTracker(self.options.delivery_window)
        self._identity: Identity | None = None
        #: The end of our receipts' recipient JIDs (see _user_jid_suffix), made on the
        #: first receipt.  It depends on who we are -- our JID, which names our app id
        #: and chat host too -- so it is forgotten when that changes (see _me).
        self._receipt_to_suffix: str | None = None
        # lower-cased dialog id -> the application's spelling
        self._pending_joins: dict[str, str] = {}
        self._joined: dict[str, str] = {}

    # -- StanzaHandler ---------------------------------------------------------------

    def handle_stanza(self, element: etree._Element, ctx: StanzaContext) -> HandlerResult:
        """Classify one inbound stanza; never raises for peer input."""
        tag = element.tag
        try:
            if tag in _TOP_MESSAGE:
                me = self._identity
                if me is None or me.full_jid != ctx.jid or me.user_id != ctx.user_id:
                    me = self._me(ctx)
                events = classify_message(element, me)
                if len(events) == 1:  # the usual case: no list to merge
                    return self._follow(events[0], events, me, ctx)
                return self._follow_up(events, me, ctx) if events else _NOTHING
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

    def message_unconfirmed(self, message_id: str) -> Sequence[Event]:
        """Nobody knows whether the message arrived: its status stays where it was (a
        later marker can still prove it delivered)."""
        return ()

    # -- durability (issue 12) -------------------------------------------------------

    def defer_dedup_until_confirmed(self, ctx: Any) -> Callable[[int], None]:
        """Called by a connection with ``app_controlled_acks``: count message ids as
        seen only once their stanzas are confirmed (``ctx.inbound_seq`` numbers them);
        returns the hook the connection calls with the confirmed sequence number.  A new
        connection calling it again drops what was pending on the old one."""
        dedup = self._dedup
        if isinstance(dedup, ConfirmedDedup):
            dedup.reset(ctx)
        else:
            dedup = self._dedup = ConfirmedDedup(dedup, ctx)
        return dedup.confirmed

    def checkpoint_state(self) -> dict[str, Any]:
        """The durable state for a checkpoint (JSON data): the confirmed
        duplicate-suppression ids, the tracked delivery statuses and the joined dialogs,
        oldest first."""
        dedup = self._dedup
        window = dedup.window if isinstance(dedup, ConfirmedDedup) else dedup
        return {
            "dedup": list(window),
            "delivery": [[mid, status.value] for mid, status in self._delivery.items()],
            "joined": sorted(self._joined.values()),
        }

    def restore_checkpoint_state(self, data: Any) -> None:
        """Take :meth:`checkpoint_state`'s data back (a new process resuming);
        :class:`~cubeproto.CheckpointError` if it is not that shape."""
        if not isinstance(data, dict) or set(data) != {"dedup", "delivery", "joined"}:
            raise CheckpointError("chat state must be an object with dedup, delivery, joined")
        dedup, delivery, joined = data["dedup"], data["delivery"], data["joined"]
        if not isinstance(dedup, list) or not all(isinstance(k, str) for k in dedup):
            raise CheckpointError("chat state 'dedup' must be a list of message ids")
        if not isinstance(joined, list) or not all(isinstance(k, str) and k for k in joined):
            raise CheckpointError("chat state 'joined' must be a list of dialog ids")
        statuses: list[tuple[str, DeliveryStatus]] = []
        if not isinstance(delivery, list):
            raise CheckpointError("chat state 'delivery' must be a list")
        for entry in delivery:
            if (
                not isinstance(entry, list)
                or len(entry) != 2
                or not isinstance(entry[0], str)
                or entry[1] not in _STATUS_VALUES
            ):
                raise CheckpointError(f"chat state 'delivery' entry {entry!r} is invalid")
            statuses.append((entry[0], DeliveryStatus(entry[1])))
        window = self._dedup.window if isinstance(self._dedup, ConfirmedDedup) else self._dedup
        window.extend(dedup)
        self._delivery.restore(statuses)
        for dialog_id in joined:
            self._joined[dialog_id.lower()] = dialog_id

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
            self._receipt_to_suffix = None
        return identity

    def _follow_up(
        self, events: tuple[Event, ...], me: Identity, ctx: StanzaContext
    ) -> HandlerResult:
        """The session's part for any number of classified message events: what
        :meth:`_follow` makes of each, in order."""
        if len(events) == 1:
            return self._follow(events[0], events, me, ctx)
        out: list[Event] = []
        replies: list[OutboundStanza] = []
        for event in events:
            result = self._follow(event, (event,), me, ctx)
            out += result.events
            replies += result.replies
        return _new_result(events=tuple(out), replies=tuple(replies))

    def _follow(
        self, event: Event, alone: tuple[Event, ...], me: Identity, ctx: StanzaContext
    ) -> HandlerResult:
        """The session's rules for one classified message event (the one place they are
        written): duplicate suppression, the automatic delivered receipt, delivery
        statuses.  ``alone`` is ``(event,)``, passed in so that an event reported as it
        is costs no new tuple (the inbound hot path: most stanzas are messages).  The
        common kinds are tested first."""
        if type(event) is MessageReceived:
            message_id = event.message_id
            if message_id is None:
                return _new_result(events=alone, replies=())
            if not self._dedup.first_time(message_id):
                return _NOTHING
            sender_id = event.sender_id
            if (
                sender_id is not None
                and event.dialog_id is not None
                and event.carbon is None
                and sender_id != me.user_id
                and self.options.auto_delivered_receipts
            ):
                receipt = self._delivered_receipt(event, ctx)
                return _new_result(events=alone, replies=(receipt,))
            return _new_result(events=alone, replies=())
        kind = type(event)
        if kind in _AS_THEY_ARE:
            return _new_result(events=alone, replies=())
        if type(event) is MessageDelivered or type(event) is MessageRead:
            if event.user_id != me.user_id:
                status = (
                    DeliveryStatus.DELIVERED
                    if type(event) is MessageDelivered
                    else DeliveryStatus.READ
                )
                changes = self._delivery.advance(event.message_id, status)
                if changes:
                    return _new_result(events=(event, *changes), replies=())
            return _new_result(events=alone, replies=())
        if type(event) is MessageEdited:
            if event.edit_id is not None and not self._dedup.first_time(event.edit_id):
                return _NOTHING
        elif type(event) is SystemMessageReceived:
            if event.message_id is not None and not self._dedup.first_time(event.message_id):
                return _NOTHING
        elif type(event) is MessageBounced and event.message_id is not None:
            changes = self._delivery.advance(event.message_id, DeliveryStatus.FAILED)
            return _new_result(events=(event, *changes), replies=())
        return _new_result(events=alone, replies=())

    def _presence(self, element: etree._Element, ctx: StanzaContext) -> tuple[Event, ...]:
        known = {**self._joined, **self._pending_joins} if self._pending_joins else self._joined
        events = classify_presence(element, self._me(ctx), known)
        if len(events) == 1 and type(events[0]) in _AS_THEY_ARE:
            return events  # occupants coming and going, other presences: the usual case
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

    def _delivered_receipt(self, event: MessageReceived, ctx: StanzaContext) -> OutboundStanza:
        """The SDK's automatic delivered marker: exactly what ``SendMarker(kind=RECEIVED,
        message_id, to_user=sender, dialog_id)`` builds, written directly -- it answers
        most inbound messages, so it is on the hot path.

        Nothing is remembered per sender or dialog: a session hears from thousands of
        (sender, dialog) pairs, and a bounded table of them missed most of the time on a
        stream with a realistic skew (bench/README.md).  The recipient's JID is the
        sender's id (digits: nothing to escape) followed by a suffix that depends only on
        who we are, made once; the three values from the peer and the connection are
        checked for escaping in one test.  Values are escaped in the order ``SendMarker``
        escapes them (id, marked id, dialog id), so a value that cannot be written fails
        the same way."""
        sender_id, dialog, marked = event.sender_id, event.dialog_id, event.message_id
        assert sender_id is not None and dialog is not None and marked is not None
        mid = ctx.new_message_id()
        id_attr = mid
        values = mid + marked + dialog
        # Letters and digits need no escaping, and for the usual ASCII ids the bytes'
        # isalnum (a table lookup per character) is much cheaper than the str tests.
        escaped = (values.isascii() and values.encode().isalnum()) or plain(values)
        if not escaped:
            id_attr, marked = escape_attr(mid), escape_attr(marked)
        to_suffix = self._receipt_to_suffix
        if to_suffix is None:
            to_suffix = self._receipt_to_suffix = _user_jid_suffix(ctx)
        if not escaped:
            dialog = escape_text(dialog)
        return _new_stanza(
            xml=f'<message type="chat" id="{id_attr}" to="{sender_id}{to_suffix}">'
            f'<received xmlns="{ns.MARKERS}" id="{marked}"/><extraParams xmlns="jabber:client">'
            f"<dialog_id>{dialog}</dialog_id></extraParams></message>",
            stanza_id=mid,
            kind="message",
        )


def _user_jid_suffix(ctx: StanzaContext) -> str:
    """What follows the user id in every user JID of our app and chat host
    (``-{app id}@{chat host}``), escaped as an attribute value.  Made by
    :func:`~cubeproto.chat.jid.user_jid` itself (which checks the app id and prepares the
    host) for user 1, minus the ``1``: a user id is digits, which need no escaping, so
    ``f"{user_id}{suffix}"`` is the escaped JID of any user."""
    return escape_attr(user_jid(1, ctx.app_id, ctx.chat_host)[1:])


#: Events that the session reports exactly as classification made them.
_AS_THEY_ARE = frozenset(
    {
        ChatStateChanged,
        MessageDeleted,
        ReactionsChanged,
        OccupantJoined,
        OccupantLeft,
        UnhandledStanza,
        MalformedStanza,
    }
)


def _malformed(element: etree._Element, reason: str) -> MalformedStanza:
    return MalformedStanza(raw=element_bytes(element), reason=reason)
