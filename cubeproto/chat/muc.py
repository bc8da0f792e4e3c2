"""Group dialogs as MUC rooms (XEP-0045): inbound presence classification and the
disco#items answer parser.

Unlike SDK 6.1.2 (whose self-presence detection is broken: it looks for the status in a
child element named ``xmlns`` of ``<x>``, so its join and leave never resolve) we read
``x/status@code`` and ``x/item/actor`` where XEP-0045 puts them, so joins and leaves
resolve and both removal codes (301 banned, 307 kicked) are reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lxml import etree

from .._records import fast_constructor
from .._stanza_error import parse_stanza_error
from ..errors import StanzaError
from ..events import Event, UnhandledStanza
from . import _ns as ns
from ._fault import StanzaFault
from .classify import Identity
from .events import (
    DialogJoined,
    DialogJoinFailed,
    DialogLeft,
    OccupantJoined,
    OccupantKicked,
    OccupantLeft,
    OnlineUsers,
    PresenceReceived,
)
from .jid import occupant_ids, occupant_user_id, parse_jid, user_id_from_jid

__all__ = ["classify_presence", "online_users_parser"]

_MUC_X = ns.clark(ns.MUC, "x")
_MUC_USER_X = ns.clark(ns.MUC_USER, "x")
_STATUS = ns.clark(ns.MUC_USER, "status")
_ITEM = ns.clark(ns.MUC_USER, "item")
_ACTOR = ns.clark(ns.MUC_USER, "actor")
_REASON = ns.clark(ns.MUC_USER, "reason")
_QUERY_ITEMS = ns.clark(ns.DISCO_ITEMS, "query")
_DISCO_ITEM = ns.clark(ns.DISCO_ITEMS, "item")
_REMOVAL_CODES = (301, 307)

# Occupant presences are frequent in busy rooms: their events are built fast.
_new_joined = fast_constructor(DialogJoined)
_new_occupant_joined = fast_constructor(OccupantJoined)
_new_occupant_left = fast_constructor(OccupantLeft)


def _error(element: etree._Element) -> StanzaError:
    try:
        return parse_stanza_error(element)
    except ValueError:
        return StanzaError(condition=None, condition_name="", type=None)


_SHOW = ns.clark(ns.CLIENT, "show")
_STATUS_TEXT = ns.clark(ns.CLIENT, "status")
_PRIORITY = ns.clark(ns.CLIENT, "priority")
_SHOW_VALUES = frozenset({"away", "chat", "dnd", "xa"})


def _user_presence(
    element: etree._Element, from_value: str, available: bool, me: Identity
) -> PresenceReceived:
    """A user's available or unavailable presence (RFC 6121 4.7): the first ``show``,
    ``status`` and ``priority`` children (a ``status`` per language is allowed; the first
    is taken).  A ``show`` or ``priority`` that RFC 6121 does not allow is a fault."""
    jid = parse_jid(from_value)
    if jid is None:
        raise StanzaFault(f"malformed from JID {from_value!r}")
    show = status = priority = None
    for child in element:
        tag = child.tag
        if tag == _SHOW and show is None:
            show = (child.text or "").strip()
            if show not in _SHOW_VALUES:
                raise StanzaFault(f"presence show {show[:32]!r} is not away, chat, dnd or xa")
        elif tag == _STATUS_TEXT and status is None:
            status = child.text or ""
        elif tag == _PRIORITY and priority is None:
            text = (child.text or "").strip()
            value = int(text) if text.lstrip("-").isdigit() and text.isascii() else None
            if value is None or not -128 <= value <= 127:
                raise StanzaFault(f"presence priority {text[:32]!r} is not in -128..127")
            priority = value
    return PresenceReceived(
        from_jid=from_value,
        user_id=user_id_from_jid(jid),
        resource=jid.resource or None,
        available=available,
        show=show,
        status=status,
        priority=priority,
        own=jid.bare == me.bare_jid,
        echo=from_value == me.full_jid,
        raw=etree.tostring(element, with_tail=False),
    )


def classify_presence(
    element: etree._Element, me: Identity, known_dialogs: Mapping[str, str]
) -> tuple[Event, ...]:
    """Classify an inbound ``<presence>``: a room's (XEP-0045) or a user's
    (:class:`PresenceReceived`); other presence types are ``UnhandledStanza``.

    ``known_dialogs`` maps lower-cased dialog ids of rooms we joined or are joining to the
    dialog ids as the application spelled them (room localparts are case-mapped on the
    wire), so that events carry the application's spelling.
    """
    muc_user = None
    muc = False
    for child in element:
        tag = child.tag
        if tag == _MUC_USER_X:
            muc_user = child
            break
        if tag == _MUC_X:
            muc = True
    ptype = element.get("type")
    from_value = element.get("from")
    if from_value is None:
        if muc_user is None and not muc:
            return (UnhandledStanza.of_element(element),)
        raise StanzaFault("MUC presence without 'from'")
    ids = occupant_ids(from_value)
    if ids is None:
        raise StanzaFault(f"malformed from JID {from_value!r}")
    user_id, room_dialog = ids
    known = (
        None if room_dialog is None or not known_dialogs else known_dialogs.get(room_dialog.lower())
    )
    if ptype == "error":
        is_join = (element.get("id") or "").endswith(":join")
        if known is None and not (muc or muc_user is not None or is_join):
            return (UnhandledStanza.of_element(element),)
        if room_dialog is None:
            raise StanzaFault(f"MUC error presence from a non-room JID {from_value!r}")
        dialog_id = known if known is not None else room_dialog
        return (DialogJoinFailed(dialog_id=dialog_id, error=_error(element)),)

    if muc_user is None and not muc and room_dialog is None and ptype in (None, "unavailable"):
        return (_user_presence(element, from_value, ptype is None, me),)
    if muc_user is None or ptype not in (None, "unavailable"):
        return (UnhandledStanza.of_element(element),)

    if room_dialog is None:
        raise StanzaFault(f"MUC presence from a JID without a dialog id: {from_value!r}")
    dialog_id = known if known is not None else room_dialog
    if user_id is None:
        raise StanzaFault(f"MUC presence whose nick is not a user id: {from_value!r}")

    codes: set[int] = set()
    item = None
    for child in muc_user:
        tag = child.tag
        if tag == _STATUS:
            code = child.get("code", "")
            if not (len(code) == 3 and code.isascii() and code.isdigit()):
                raise StanzaFault(f"MUC status code {code!r} is not a 3-digit number")
            codes.add(int(code))
        elif tag == _ITEM and item is None:
            item = child
    is_self = user_id == me.user_id or 110 in codes

    if ptype is None:
        if is_self:
            return (_new_joined(dialog_id=dialog_id),)
        return (_new_occupant_joined(dialog_id=dialog_id, user_id=user_id),)

    removal = None
    if codes:  # usually none: a plain leave
        removal = next((c for c in _REMOVAL_CODES if c in codes), None)
    if removal is not None:
        actor = reason = None
        if item is not None:
            for child in item:
                if child.tag == _ACTOR and actor is None:
                    actor = child.get("jid") or child.get("nick")
                elif child.tag == _REASON and reason is None:
                    reason = child.text or ""
        kicked = OccupantKicked(
            dialog_id=dialog_id, user_id=user_id, code=removal, actor=actor, reason=reason
        )
        return (kicked, DialogLeft(dialog_id=dialog_id)) if is_self else (kicked,)
    if is_self:
        return (DialogLeft(dialog_id=dialog_id),)
    return (_new_occupant_left(dialog_id=dialog_id, user_id=user_id),)


def online_users_parser(dialog_id: str) -> Callable[[etree._Element], Event]:
    """The result parser of ``GetOnlineUsers``: raises ``ValueError`` for a malformed
    answer (an item whose JID is malformed or whose nick is not a user id)."""

    def parse(element: etree._Element) -> Event:
        user_ids: list[int] = []
        for query in element:
            if query.tag != _QUERY_ITEMS:
                continue
            for item in query:
                if item.tag != _DISCO_ITEM:
                    continue
                jid = parse_jid(item.get("jid", ""))
                user_id = None if jid is None else occupant_user_id(jid)
                if user_id is None:
                    raise ValueError(f"disco#items item {item.get('jid')!r} is not an occupant")
                user_ids.append(user_id)
            break
        return OnlineUsers(dialog_id=dialog_id, user_ids=tuple(user_ids))

    return parse
