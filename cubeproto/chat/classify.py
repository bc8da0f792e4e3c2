"""Inbound ``<message>`` classification, in the order of the official JS SDK 6.1.2's
message listener.

One pass over the message's direct children fills a slot per feature (first matching
child wins, as in the SDK); then the SDK's order decides: carbons are unwrapped, headline
-> system message, error -> bounce, then typing, edit, reactions, delete, markers and
finally the message itself.

Pure: the result is a tuple of events; stateful follow-ups (duplicate suppression, the
automatic delivered receipt, delivery statuses) are the session's
(:mod:`cubeproto.chat.session`).  A malformed stanza raises the internal
:class:`~cubeproto.chat._fault.StanzaFault`, which the session reports as
``MalformedStanza``.

Deliberate deviations from SDK 6.1.2 (each a bug or a gap there):

* Children are matched by namespace for the XEP vocabulary (chat states, markers,
  correction, deletion, carbons, delay); the ConnectyCube elements without a namespace of
  their own (``body``, ``extraParams``, ``reactions``) match in ``jabber:client`` or none.
  A vocabulary name in a foreign namespace (``<replace xmlns="x">``) is malformed; the
  SDK would act on it.  XEP-0184 ``<received xmlns="urn:xmpp:receipts">`` is ignored.
* ``received`` carbons are unwrapped (the SDK misreads the wrapper as a delivered marker
  with id ``""``), and a carbon is accepted only from our own bare JID (XEP-0280 section
  11: anything else is a forgery).
* The own-echo filter compares the whole ``from`` with our full JID (the SDK tests whether
  our resource is a *substring* of ``from``).
* Chat states ``active``/``inactive``/``gone`` are understood: alone they are a
  ``ChatStateChanged``; with a body they are the message's ``chat_state``.
* Messages of ``type="normal"`` (the SDK ignores them) are reported as
  ``UnhandledStanza``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from lxml import etree

from .._records import fast_constructor, positional_constructor
from .._stanza_error import parse_stanza_error
from ..errors import StanzaError
from ..events import Event, UnhandledStanza
from . import _ns as ns
from ._fault import StanzaFault
from .events import (
    CarbonDirection,
    ChatState,
    ChatStateChanged,
    MessageBounced,
    MessageDeleted,
    MessageDelivered,
    MessageEdited,
    MessageRead,
    MessageReceived,
    MessageType,
    ReactionsChanged,
    SystemMessageReceived,
)
from .extension import DecodedExtension, DecodedParams, decode_extension
from .jid import (
    Jid,
    occupant_ids,
    parse_jid,
    user_id_of,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Identity", "classify_message", "parse_delay_stamp"]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who we are, as classification needs it."""

    full_jid: str
    bare_jid: str
    user_id: int

    @classmethod
    def from_jid(cls, jid: str, user_id: int) -> Identity:
        """Our identity from the bound full JID."""
        parsed = parse_jid(jid)
        bare = parsed.bare if parsed is not None else jid.partition("/")[0]
        return cls(full_jid=jid, bare_jid=bare, user_id=user_id)


# Slots: one per feature the classification looks at.
_BODY = 0
_EXTRA = 1
_STATE = 2
_RECEIVED = 3
_DISPLAYED = 4
_MARKABLE = 5
_REPLACE = 6
_REMOVE = 7
_REACTIONS = 8
_CARBON_SENT = 9
_CARBON_RECEIVED = 10
_DELAY = 11
_LEGACY_DELAY = 12
_INVITE = 13
_IGNORED = 14
_SUBJECT = 15
_SLOT_COUNT = 16


def _both(local: str, slot: int) -> dict[str, int]:
    """A ConnectyCube element that may come in ``jabber:client`` or without namespace."""
    return {local: slot, ns.clark(ns.CLIENT, local): slot}


_SLOTS: dict[str, int] = {
    **_both("body", _BODY),
    **_both("extraParams", _EXTRA),
    **_both("reactions", _REACTIONS),
    **_both("invite", _INVITE),
    **_both("subject", _SUBJECT),
    **{ns.clark(ns.CHATSTATES, s.value): _STATE for s in ChatState},
    ns.clark(ns.MARKERS, "received"): _RECEIVED,
    ns.clark(ns.MARKERS, "displayed"): _DISPLAYED,
    ns.clark(ns.MARKERS, "markable"): _MARKABLE,
    ns.clark(ns.CORRECT, "replace"): _REPLACE,
    ns.clark(ns.DELETE, "remove"): _REMOVE,
    ns.clark(ns.CARBONS, "sent"): _CARBON_SENT,
    ns.clark(ns.CARBONS, "received"): _CARBON_RECEIVED,
    ns.clark(ns.DELAY, "delay"): _DELAY,
    ns.clark(ns.LEGACY_DELAY, "x"): _LEGACY_DELAY,
    ns.clark(ns.CONFERENCE, "x"): _INVITE,
    ns.clark(ns.RECEIPTS, "received"): _IGNORED,
    ns.clark(ns.RECEIPTS, "request"): _IGNORED,
}
#: Local names of our vocabulary: in any namespace not listed above they are malformed.
_STRICT_LOCALS = frozenset(
    {"body", "extraParams", "reactions", "replace", "remove", "displayed", "markable"}
    | {s.value for s in ChatState}
)
_MUC_USER_X = ns.clark(ns.MUC_USER, "x")
_MUC_INVITE = ns.clark(ns.MUC_USER, "invite")
_FORWARDED = ns.clark(ns.FORWARD, "forwarded")
_MESSAGE_TAGS = frozenset({"message", ns.clark(ns.CLIENT, "message")})
_STATES = {ns.clark(ns.CHATSTATES, s.value): s for s in ChatState}
_REACTION_TAGS = frozenset({"reaction", ns.clark(ns.CLIENT, "reaction")})
_TRUE = ("1", "true")

#: ``MessageReceived`` with its fifteen fields given in declaration order (no keywords to
#: match on the hottest construction of all).
_new_received_positional = positional_constructor(MessageReceived)
_new_chat_state = fast_constructor(ChatStateChanged)
_new_edited = fast_constructor(MessageEdited)
_new_deleted = fast_constructor(MessageDeleted)
_new_delivered = fast_constructor(MessageDelivered)
_new_read = fast_constructor(MessageRead)

# XEP-0082 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD; legacy XEP-0091: CCYYMMDDThh:mm:ss (UTC).
_STAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_LEGACY_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2}):(\d{2})")


def parse_delay_stamp(stamp: str, *, legacy: bool = False) -> float | None:
    """UTC epoch seconds of a XEP-0203 (or legacy XEP-0091) stamp; ``None`` if malformed."""
    m = (_LEGACY_STAMP if legacy else _STAMP).fullmatch(stamp)
    if m is None:
        return None
    g = m.groups()
    try:
        moment = datetime(
            int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), tzinfo=timezone.utc
        )
    except ValueError:
        return None
    seconds = moment.timestamp()
    if legacy:
        return seconds
    if g[6]:
        seconds += int(g[6]) / 10 ** len(g[6])
    tz = g[7]
    if tz != "Z":
        hours, minutes = int(tz[1:3]), int(tz[4:6])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes).total_seconds()
        seconds += -offset if tz[0] == "+" else offset
    return seconds


def _other_child(child: etree._Element) -> int | None:
    """The slot of a child whose tag is not in :data:`_SLOTS` (a MUC invitation), or
    ``None`` (ignored); ``StanzaFault`` for our vocabulary in a foreign namespace."""
    tag = child.tag
    if not isinstance(tag, str):  # a comment or PI (the stream parser refuses them)
        return None
    if tag == _MUC_USER_X:
        return _INVITE if any(c.tag == _MUC_INVITE for c in child) else None
    local = ns.local_name(tag)
    if local in _STRICT_LOCALS:
        raise StanzaFault(f"<{local}> in foreign namespace {ns.namespace_of(tag)!r}")
    return None


def _jid_attr(element: etree._Element, name: str) -> Jid | None:
    value = element.get(name)
    if value is None:
        return None
    jid = parse_jid(value)
    if jid is None:
        raise StanzaFault(f"malformed {name} JID {value!r}")
    return jid


def _required_id(element: etree._Element, what: str) -> str:
    value = element.get("id")
    if not value:
        raise StanzaFault(f"<{what}> without an id")
    return value


def _delay(slots: list[etree._Element | None]) -> tuple[str | None, float | None]:
    el = slots[_DELAY]
    if el is not None:
        stamp = el.get("stamp")
        return stamp, None if stamp is None else parse_delay_stamp(stamp)
    el = slots[_LEGACY_DELAY]
    if el is not None:
        stamp = el.get("stamp")
        return stamp, None if stamp is None else parse_delay_stamp(stamp, legacy=True)
    return None, None


def _children(element: etree._Element) -> Iterator[etree._Element]:
    for child in element:
        if isinstance(child.tag, str):
            yield child


def _unwrap_carbon(
    wrapper: etree._Element, outer: etree._Element, me: Identity
) -> tuple[etree._Element, str | None]:
    """The forwarded message inside a carbon wrapper, and the ``<forwarded>`` delay stamp."""
    sender = _jid_attr(outer, "from")
    if sender is not None and sender.bare.lower() != me.bare_jid.lower():
        raise StanzaFault(f"carbon copy from a foreign JID {outer.get('from')!r}")
    forwarded = next((c for c in _children(wrapper) if c.tag == _FORWARDED), None)
    if forwarded is None:
        raise StanzaFault("carbon without <forwarded>")
    inner = None
    stamp = None
    for child in _children(forwarded):
        if inner is None and child.tag in _MESSAGE_TAGS:
            inner = child
        elif child.tag == ns.clark(ns.DELAY, "delay") and stamp is None:
            stamp = child.get("stamp")
    if inner is None:
        raise StanzaFault("carbon without a forwarded <message>")
    return inner, stamp


_COMPOSING = ChatState.COMPOSING
_PAUSED = ChatState.PAUSED
_CHAT = MessageType.CHAT
_GROUPCHAT = MessageType.GROUPCHAT


def classify_message(element: etree._Element, me: Identity) -> tuple[Event, ...]:
    """Classify one inbound ``<message>``; raises ``StanzaFault`` if it is malformed.

    There is one path for every message (:func:`_classify`): the common shapes are made
    fast inside it, not beside it."""
    return _classify(element, me, None, None)


def _classify(
    element: etree._Element,
    me: Identity,
    carbon: CarbonDirection | None,
    forwarded_stamp: str | None,
) -> tuple[Event, ...]:
    """The SDK's decision for one message, the one place its rules are written: one pass
    over the children fills a slot per feature (first child wins), a carbon copy is
    unwrapped (``carbon`` and ``forwarded_stamp`` then describe the wrapper of the inner
    message), and the SDK's order decides.

    It is also the inbound hot path, so it is written for speed without changing a rule:
    attributes are read once, by names given as bytes (lxml looks them up in that form,
    so it is spared an encoding per call; the values are the same str either way); the
    sender's ids come from the cached JID helpers (``user_id_of``, ``occupant_ids``), which
    give what ``parse_jid`` and the id helpers give without building a ``Jid``; events are
    built by the fast constructors of :mod:`cubeproto._records`; and the common kinds come
    first in each test."""
    slots: list[etree._Element | None] = [None] * _SLOT_COUNT
    known = _SLOTS
    for child in element:
        try:
            slot = known[child.tag]
        except KeyError:
            other = _other_child(child)
            if other is None:
                continue
            slot = other
        if slots[slot] is None:
            slots[slot] = child
    if slots[_CARBON_SENT] is not None or slots[_CARBON_RECEIVED] is not None:
        if carbon is not None:
            raise StanzaFault("nested carbon copy")
        wrapper = slots[_CARBON_SENT]
        if wrapper is not None:
            direction = CarbonDirection.SENT
        else:
            wrapper = slots[_CARBON_RECEIVED]
            direction = CarbonDirection.RECEIVED
        assert wrapper is not None
        inner, stamp = _unwrap_carbon(wrapper, element, me)
        return _classify(inner, me, direction, stamp)
    get = element.get
    type_attr = get(b"type", "normal")
    forwarded = carbon is not None
    if type_attr == "error":
        return (_bounce(element),)
    group = type_attr == "groupchat"
    from_value = get(b"from")
    # RFC 6120 8.1.2.1: no 'from' means our own account
    from_jid = me.bare_jid if from_value is None else from_value
    if group:
        occupant = occupant_ids(from_jid)
        if occupant is None:
            if from_value is not None:
                raise StanzaFault(f"malformed from JID {from_value!r}")
            occupant = (None, None)
        sender_id, room_dialog = occupant
    else:
        room_dialog = None
        try:
            sender_id = user_id_of(from_jid)
        except ValueError:
            if from_value is not None:
                raise StanzaFault(f"malformed from JID {from_value!r}") from None
            sender_id = None
    if slots[_DELAY] is None and slots[_LEGACY_DELAY] is None:
        delay_stamp: str | None = None
        delayed_at: float | None = None
    else:
        delay_stamp, delayed_at = _delay(slots)
    if delay_stamp is None and forwarded_stamp is not None:
        delay_stamp, delayed_at = forwarded_stamp, parse_delay_stamp(forwarded_stamp)

    params: DecodedParams | None = None
    extra = slots[_EXTRA]
    if extra is not None:
        params = decode_extension(extra)
        extension: DecodedExtension = params[0]
    else:
        extension = {}
    body_el = slots[_BODY]
    body = None if body_el is None else (body_el.text or "")

    if type_attr == "chat":
        mtype: MessageType | None = _CHAT
        if from_jid == me.full_jid:
            return ()  # our own echo
    elif group:
        mtype = _GROUPCHAT
    elif type_attr == "headline":
        return _system(element, params, sender_id, body, forwarded, delay_stamp, delayed_at)
    else:
        mtype = None
    if slots[_INVITE] is not None:
        return ()  # MUC invitations are ignored, as in the SDK
    if group and slots[_SUBJECT] is not None and body is None:
        # The room subject a server sends after a join (XEP-0045 7.2.16: a <subject/>
        # without <body/>), empty or not: a room setting, no one's message.  (The SDK
        # does not single it out and reports it as a message from user null.)
        return ()

    if room_dialog is not None:
        dialog_id: str | None = room_dialog
    else:
        dialog_id = params[1] if params is not None else None

    state_el = slots[_STATE]
    state = None if state_el is None else _STATES[state_el.tag]
    if state is _COMPOSING or state is _PAUSED:
        if mtype is None and delay_stamp is not None:
            return ()
        return (
            _new_chat_state(
                state=state,
                from_jid=from_jid,
                user_id=sender_id,
                dialog_id=dialog_id,
                is_forwarded=forwarded,
            ),
        )

    replace = slots[_REPLACE]
    if replace is not None:
        last = replace.get(b"last", "false")
        if last != "false" and last != "true":
            raise StanzaFault(f"<replace last={last!r}>: expected 'true' or 'false'")
        return (
            _new_edited(
                message_id=_required_id(replace, "replace"),
                edit_id=get(b"id"),
                body=body,
                last=last == "true",
                dialog_id=dialog_id,
                user_id=sender_id,
                from_jid=from_jid,
                extension=extension,
                is_forwarded=forwarded,
            ),
        )

    reactions = slots[_REACTIONS]
    if reactions is not None:
        if forwarded and group:
            return ()
        return (_reactions(reactions, dialog_id),)

    remove = slots[_REMOVE]
    if remove is not None:
        return (
            _new_deleted(
                message_id=_required_id(remove, "remove"),
                dialog_id=dialog_id,
                user_id=sender_id,
                from_jid=from_jid,
                is_forwarded=forwarded,
            ),
        )

    received, displayed = slots[_RECEIVED], slots[_DISPLAYED]
    if received is not None or displayed is not None:
        return _markers(received, displayed, mtype, sender_id, dialog_id, from_jid, forwarded)

    if mtype is None:
        return (UnhandledStanza.of_element(element),)
    if state is not None and body is None and params is None:
        return (
            _new_chat_state(
                state=state,
                from_jid=from_jid,
                user_id=sender_id,
                dialog_id=dialog_id,
                is_forwarded=forwarded,
            ),
        )
    to_value = get(b"to")
    recipient_id = None
    if to_value is not None:  # parsed only here: other kinds do not use it
        try:
            recipient_id = user_id_of(to_value)
        except ValueError:
            raise StanzaFault(f"malformed to JID {to_value!r}") from None
        if group:
            recipient_id = None
    return (
        _new_received_positional(
            get(b"id"),  # message_id
            mtype,  # type
            from_jid,
            to_value,  # to_jid
            sender_id,
            recipient_id,
            dialog_id,
            body,
            extension,
            slots[_MARKABLE] is not None or extension.get("markable") in _TRUE,  # markable
            state,  # chat_state
            forwarded,  # is_forwarded
            carbon,
            delay_stamp,
            delayed_at,
        ),
    )


def _markers(
    received: etree._Element | None,
    displayed: etree._Element | None,
    mtype: MessageType | None,
    sender_id: int | None,
    dialog_id: str | None,
    from_jid: str,
    forwarded: bool,
) -> tuple[Event, ...]:
    """XEP-0333 markers: delivered and/or read (a message may carry both, delivered
    first); ``received`` or ``displayed`` is given."""
    if mtype is not _CHAT:
        return ()  # groupchat markers are dropped, as in the SDK
    read = None
    if displayed is not None:
        if received is None:
            return (
                _new_read(
                    message_id=_required_id(displayed, "displayed"),
                    dialog_id=dialog_id,
                    user_id=sender_id,
                    from_jid=from_jid,
                    is_forwarded=forwarded,
                ),
            )
        read = displayed
    assert received is not None
    delivered = _new_delivered(
        message_id=_required_id(received, "received"),
        dialog_id=dialog_id,
        user_id=sender_id,
        from_jid=from_jid,
        is_forwarded=forwarded,
    )
    if read is None:
        return (delivered,)
    return (
        delivered,
        _new_read(
            message_id=_required_id(read, "displayed"),
            dialog_id=dialog_id,
            user_id=sender_id,
            from_jid=from_jid,
            is_forwarded=forwarded,
        ),
    )


def _bounce(element: etree._Element) -> MessageBounced:
    try:
        error = parse_stanza_error(element)
    except ValueError:  # a numeric code CPython refuses to convert
        error = StanzaError(condition=None, condition_name="", type=None)
    return MessageBounced(message_id=element.get("id"), from_jid=element.get("from"), error=error)


def _system(
    element: etree._Element,
    params: DecodedParams | None,
    sender_id: int | None,
    body: str | None,
    forwarded: bool,
    delay_stamp: str | None,
    delayed_at: float | None,
) -> tuple[Event, ...]:
    if params is None or params.module_identifier != "SystemNotifications":
        # No extension (the SDK drops it), call signalling or an unknown module.
        return (UnhandledStanza.of_element(element),)
    return (
        SystemMessageReceived(
            message_id=element.get("id"),
            from_jid=element.get("from"),
            sender_id=sender_id if element.get("from") else None,
            body=body,
            extension=params.extension,
            is_forwarded=forwarded,
            delay_stamp=delay_stamp,
            delayed_at=delayed_at,
        ),
    )


def _reactions(element: etree._Element, dialog_id: str | None) -> ReactionsChanged:
    message_id = element.get("message_id")
    if not message_id:
        raise StanzaFault("<reactions> without message_id")
    user_text = element.get("user_id", "")
    if not (0 < len(user_text) <= 20 and user_text.isascii() and user_text.isdigit()):
        raise StanzaFault(f"<reactions user_id={user_text!r}>: not a user id")
    added: list[str] = []
    removed: list[str] = []
    for child in element:
        if child.tag not in _REACTION_TAGS:
            continue
        emoji = child.get("type")
        is_add, is_remove = child.get("add") == "true", child.get("remove") == "true"
        if (is_add or is_remove) and not emoji:
            raise StanzaFault("<reaction> without a type")
        if is_add and emoji:
            added.append(emoji)
        if is_remove and emoji:
            removed.append(emoji)
    return ReactionsChanged(
        message_id=message_id,
        user_id=int(user_text),
        dialog_id=dialog_id,
        added=tuple(added),
        removed=tuple(removed),
    )
