"""Chat events: what the chat layer reports about inbound stanzas and sent messages.

All are frozen, slotted, keyword-only dataclasses deriving from
:class:`cubeproto.events.Event`.  Ids that the peer sends as text inside JIDs (user ids)
are ``int`` here; dialog and message ids stay ``str``.  A peer stanza that cannot be
interpreted is reported as the core :class:`~cubeproto.events.MalformedStanza` instead.

The classifiers build them with :func:`cubeproto._records.fast_constructor` (the same
objects as the class call, without the per-field cost of a frozen dataclass ``__init__``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import LocalProtocolError, StanzaError
from ..events import Event
from .extension import DecodedValue

__all__ = [
    "CarbonDirection",
    "ChatState",
    "ChatStateChanged",
    "ClientStateChanged",
    "DeliveryConfirmed",
    "DeliveryNotConfirmed",
    "DeliveryStatus",
    "DeliveryStatusChanged",
    "DialogJoinFailed",
    "DialogJoined",
    "DialogLeft",
    "DialogLost",
    "DialogMessageResent",
    "LastActivity",
    "PresenceReceived",
    "LastActivitySubscriptionChanged",
    "MarkerKind",
    "MessageBounced",
    "MessageDeleted",
    "MessageDelivered",
    "MessageEdited",
    "MessageRead",
    "MessageReceived",
    "MessageType",
    "OccupantJoined",
    "OccupantKicked",
    "OccupantLeft",
    "OnlineUsers",
    "PrivacyAction",
    "PrivacyDefaultChanged",
    "PrivacyItem",
    "PrivacyListDeleted",
    "PrivacyListNames",
    "PrivacyListReceived",
    "PrivacyListSaved",
    "ReactionsChanged",
    "SystemMessageReceived",
]


class MessageType(str, enum.Enum):
    """The ``type`` of a chat message: 1-1 or group."""

    CHAT = "chat"
    GROUPCHAT = "groupchat"


class ChatState(str, enum.Enum):
    """XEP-0085 chat states (namespace ``http://jabber.org/protocol/chatstates``)."""

    ACTIVE = "active"
    COMPOSING = "composing"
    PAUSED = "paused"
    INACTIVE = "inactive"
    GONE = "gone"


class MarkerKind(str, enum.Enum):
    """XEP-0333 markers the ConnectyCube SDK uses: delivered and read."""

    RECEIVED = "received"
    DISPLAYED = "displayed"


class CarbonDirection(str, enum.Enum):
    """Which XEP-0280 carbon wrapper a message arrived in."""

    #: A message one of my other devices *sent* (sender is me).
    SENT = "sent"
    #: A message my account *received* on another device.
    RECEIVED = "received"


class DeliveryStatus(str, enum.Enum):
    """Where a message we sent stands.  The order of the members is the order of progress:
    a status only ever moves to a later member (see :mod:`cubeproto.chat.delivery`)."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    DELIVERED = "delivered"
    READ = "read"


class PrivacyAction(str, enum.Enum):
    """What a privacy-list item does with the user's stanzas."""

    ALLOW = "allow"
    DENY = "deny"


Extension = Mapping[str, DecodedValue]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(Event):
    """A chat message (``type`` chat or groupchat) with a body and/or an extension.

    ``sender_id`` is the user id from ``from`` (the nick for a group message; ``None`` for a
    message from the bare room or a non-ConnectyCube JID).  ``recipient_id`` is set for 1-1
    messages.  ``dialog_id`` comes from the room JID (group) or ``extraParams/dialog_id``
    (1-1).  ``extension`` is decoded as the SDK does (all leaves strings, ``attachments`` a
    list of dicts).  ``carbon`` says whether the message was unwrapped from a carbon copy
    (``is_forwarded`` is then true).  ``delay_stamp`` is the raw XEP-0203 stamp and
    ``delayed_at`` its UTC epoch seconds (``None`` if missing or malformed).
    ``markable`` is true when the sender asked for a delivered receipt (``markable=1`` in the
    extension or a XEP-0333 ``<markable/>``).
    """

    message_id: str | None
    type: MessageType
    from_jid: str
    to_jid: str | None
    sender_id: int | None
    recipient_id: int | None
    dialog_id: str | None
    body: str | None
    extension: Extension = field(default_factory=dict)
    markable: bool = False
    chat_state: ChatState | None = None
    is_forwarded: bool = False
    carbon: CarbonDirection | None = None
    delay_stamp: str | None = None
    delayed_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMessageReceived(Event):
    """A system message (``type="headline"``, ``moduleIdentifier=SystemNotifications``);
    ``moduleIdentifier`` is not in ``extension``."""

    message_id: str | None
    from_jid: str | None
    sender_id: int | None
    body: str | None
    extension: Extension = field(default_factory=dict)
    is_forwarded: bool = False
    delay_stamp: str | None = None
    delayed_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatStateChanged(Event):
    """Typing notifications: ``state`` is any XEP-0085 state; ``is_typing`` is true for
    ``composing`` (the SDK's ``isTyping``).  ``dialog_id`` is set for group dialogs."""

    state: ChatState
    from_jid: str
    user_id: int | None
    dialog_id: str | None
    is_forwarded: bool = False

    @property
    def is_typing(self) -> bool:
        """True while the user is composing."""
        return self.state is ChatState.COMPOSING


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDelivered(Event):
    """A delivered marker (``<received xmlns="urn:xmpp:chat-markers:0" id>``) arrived."""

    message_id: str
    dialog_id: str | None
    user_id: int | None
    from_jid: str
    is_forwarded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRead(Event):
    """A read marker (``<displayed xmlns="urn:xmpp:chat-markers:0" id>``) arrived."""

    message_id: str
    dialog_id: str | None
    user_id: int | None
    from_jid: str
    is_forwarded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEdited(Event):
    """A message was corrected: ``message_id`` is the original, ``edit_id`` the stanza id
    of the correction; ``last`` says it was the newest message of the dialog."""

    message_id: str
    edit_id: str | None
    body: str | None
    last: bool
    dialog_id: str | None
    user_id: int | None
    from_jid: str
    extension: Extension = field(default_factory=dict)
    is_forwarded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeleted(Event):
    """A message was deleted for everyone."""

    message_id: str
    dialog_id: str | None
    user_id: int | None
    from_jid: str
    is_forwarded: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionsChanged(Event):
    """Reactions on ``message_id`` by ``user_id`` changed (server push).

    ``added``/``removed`` list every emoji in order; ``add``/``remove`` are the SDK's
    values (the last of each, or ``None``).
    """

    message_id: str
    user_id: int
    dialog_id: str | None
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    @property
    def add(self) -> str | None:
        """The SDK's ``add``: the last added reaction."""
        return self.added[-1] if self.added else None

    @property
    def remove(self) -> str | None:
        """The SDK's ``remove``: the last removed reaction."""
        return self.removed[-1] if self.removed else None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageBounced(Event):
    """A message we sent came back as ``<message type="error">`` (e.g. blocked by a
    privacy list); ``message_id`` is the id of our message."""

    message_id: str | None
    from_jid: str | None
    error: StanzaError


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryStatusChanged(Event):
    """The delivery status of a message we sent moved forward (one event per step)."""

    message_id: str
    status: DeliveryStatus
    previous: DeliveryStatus | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryConfirmed(Event):
    """End-to-end mode (``ChatOptions(end_to_end=...)``): the receiver itself said it has
    the 1-1 message (a ``delivered`` or ``read`` marker for its id came back).  A final
    outcome: the message is no longer resent.  ``attempts`` is how many times it was
    written (1 = the first send was enough)."""

    message_id: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryNotConfirmed(Event):
    """End-to-end mode: the receiver did not confirm the 1-1 message after ``attempts``
    sends, each followed by the configured deadline without a marker (or it was the
    oldest of more pending messages than the tracker holds: ``attempts`` below the
    maximum).  ``bounced``: a send of it bounced (``MessageBounced``; a bounce alone
    ends nothing, it may be transient).  A final outcome; it does not say the message
    was lost -- only that the receiver never said it arrived."""

    message_id: str
    attempts: int
    bounced: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogJoined(Event):
    """Our join presence was accepted (self-presence with status 110)."""

    dialog_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogJoinFailed(Event):
    """The room refused our join presence."""

    dialog_id: str
    error: StanzaError


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogLeft(Event):
    """We are no longer an occupant (our leave was confirmed, or we were removed)."""

    dialog_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogLost(Event):
    """A room we had joined (and not left) refused our groupchat as from a non-occupant:
    the server has forgotten that we are in it, without telling us.

    What does that: the cluster node that hosted the room died (the room is gone,
    ``item-not-found``, or came back from the database empty on another node,
    ``not-acceptable``: "only occupants may send"), or the room's service is away
    (``service-unavailable``).  ``condition_name`` is the bounce's stanza error
    condition and ``message_id`` the groupchat that bounced.

    ``rejoining``: the session has sent a join presence to the room
    (``ChatOptions(rejoin_lost_dialogs=True)``); ``DialogJoined`` or
    ``DialogJoinFailed`` follows.  ``resending``: the bounced message is held and is
    sent again, once, with its original id, when the re-join succeeds
    (``DialogMessageResent``); if the re-join fails, it is reported bounced
    (``MessageBounced``, delivery status ``FAILED``).  Without ``resending`` the bounce
    is reported as it is, after this event.  With ``rejoining`` false the room stays
    left: the application decides (re-join with ``JoinDialog``, or tell the user).

    ``detected_by``: ``"bounce"`` (the above), or ``"room_check"``: the periodic room
    check (``ChatOptions(room_check_interval=...)``, XEP-0410 self-ping,
    :mod:`cubeproto.chat.roomcheck`) found it -- then ``condition_name`` is the
    condition of the self-ping's error answer (``not-acceptable``: the room no longer
    counts us as an occupant; ``item-not-found``: the room is gone), ``message_id`` is
    ``None`` and ``resending`` false: no message bounced.
    """

    dialog_id: str
    condition_name: str
    message_id: str | None
    rejoining: bool
    resending: bool
    detected_by: Literal["bounce", "room_check"] = "bounce"


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogMessageResent(Event):
    """A groupchat that bounced off a lost room (see :class:`DialogLost`) was sent again,
    with its original id, after the room took us back (``DialogJoined``).  Its outcome
    follows as for any message: ``MessageSent`` when the server acknowledges the resend,
    ``MessageBounced`` if the room refuses it again (it is not resent twice)."""

    message_id: str
    dialog_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OccupantJoined(Event):
    """Another user is (or became) an occupant of a joined room."""

    dialog_id: str
    user_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OccupantLeft(Event):
    """Another user left a joined room."""

    dialog_id: str
    user_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OccupantKicked(Event):
    """An occupant (possibly us: compare ``user_id``) was removed from a room.

    ``code`` is the XEP-0045 status: 301 (banned; what the SDK listens for) or 307 (kicked).
    ``actor`` is the JID (or nick) of whoever did it, if the room says.
    """

    dialog_id: str
    user_id: int
    code: int
    actor: str | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OnlineUsers(Event):
    """Answer to ``GetOnlineUsers``: the user ids of a room's occupants."""

    dialog_id: str
    user_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceReceived(Event):
    """A user's presence (RFC 6121 section 4), not a room's: available (no ``type``) or
    ``unavailable``.  The server sends our own presence back to us and tells us of our
    other resources (devices): ``own`` says the presence is from our own account, and
    ``echo`` that it is the one we sent, from this very resource.

    ``show`` is ``away``, ``chat``, ``dnd`` or ``xa`` (``None``: plainly available),
    ``status`` the free text, ``priority`` the resource's priority (-128..127) when given.
    Subscription requests and other presence types stay ``UnhandledStanza``.  ``raw`` is
    the stanza as received, for what else it carries (entity capabilities, vCard hashes,
    any extension).
    """

    from_jid: str
    user_id: int | None
    resource: str | None
    available: bool
    show: str | None = None
    status: str | None = None
    priority: int | None = None
    own: bool = False
    echo: bool = False
    raw: bytes = field(default=b"", repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastActivity(Event):
    """A user's last activity (XEP-0012 seconds): the answer to ``GetLastActivity`` or a
    pushed update of a ``SubscribeLastActivity`` subscription."""

    user_id: int
    seconds: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LastActivitySubscriptionChanged(Event):
    """The server accepted a status_streaming subscribe (``enabled``) / unsubscribe."""

    user_id: int
    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientStateChanged(Event):
    """The server accepted a markActive/markInactive IQ (Tigase mobile#v2)."""

    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyItem:
    """One user in a privacy list.  ``mutual_block`` (deny only) blocks both directions."""

    user_id: int
    action: PrivacyAction
    mutual_block: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.user_id, bool) or not isinstance(self.user_id, int):
            raise LocalProtocolError(f"a privacy item's user id is an int: {self.user_id!r}")
        if self.user_id <= 0:
            raise LocalProtocolError(f"a user id is positive: {self.user_id!r}")
        if not isinstance(self.action, PrivacyAction):
            raise LocalProtocolError(f"action is a PrivacyAction: {self.action!r}")
        if self.mutual_block and self.action is not PrivacyAction.DENY:
            raise LocalProtocolError("mutual_block only applies to a deny item")


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyListNames(Event):
    """Answer to ``GetPrivacyListNames``.  Unlike the SDK, ``names`` holds only the lists
    (the SDK also lists the ``<active>``/``<default>`` entries there)."""

    names: tuple[str, ...]
    default: str | None
    active: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyListReceived(Event):
    """Answer to ``GetPrivacyList``.  Unlike the SDK, ``mutual_block`` is read back (an
    item with no children)."""

    name: str
    items: tuple[PrivacyItem, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyListSaved(Event):
    """A ``SetPrivacyList`` was accepted."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyListDeleted(Event):
    """A ``DeletePrivacyList`` was accepted."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyDefaultChanged(Event):
    """A ``SetDefaultPrivacyList`` was accepted; ``name`` ``None`` = declined."""

    name: str | None
