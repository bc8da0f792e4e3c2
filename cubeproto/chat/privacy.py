"""Privacy lists, the block list (XEP-0016 ``jabber:iq:privacy`` as ConnectyCube uses it).

Encoding is the SDK's: users sorted by ascending id (duplicates: last wins), two
items per user -- ``order=2k+1`` matching the user's bare JID and ``order=2k+2`` matching
``{mucHost}/{userId}`` (the user as an occupant of any room) -- with
``<message/><presence-in/><presence-out/><iq/>`` children, or no children at all for a
two-way block (``mutual_block``: blocks everything, so I cannot write either).

Updating a list is get -> merge -> create, as in the SDK, and the merge is the pure
:func:`merge_privacy_update`: the application (or the high-level client) sends
:class:`GetPrivacyList`, merges the answer's items with the changes and sends
:class:`SetPrivacyList` with the result.

Reading answers is more faithful than the SDK's: list names exclude the
``<active>``/``<default>`` entries, and ``mutual_block`` is read back from item children.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lxml import etree

from .._xmlstream import escape_attr
from ..commands import DEFAULT_IQ_TIMEOUT, OutboundStanza, StanzaCommand, StanzaContext
from ..errors import LocalProtocolError
from ..events import Event
from . import _ns as ns
from .events import (
    PrivacyAction,
    PrivacyDefaultChanged,
    PrivacyItem,
    PrivacyListDeleted,
    PrivacyListNames,
    PrivacyListReceived,
    PrivacyListSaved,
)
from .jid import parse_jid, prepare_domain, user_id_from_jid, user_jid

__all__ = [
    "DeletePrivacyList",
    "GetPrivacyList",
    "GetPrivacyListNames",
    "SetDefaultPrivacyList",
    "SetPrivacyList",
    "merge_privacy_update",
    "privacy_update",
    "privacy_list_parser",
    "privacy_names_parser",
]

_QUERY = ns.clark(ns.PRIVACY, "query")
_LIST = ns.clark(ns.PRIVACY, "list")
_ITEM = ns.clark(ns.PRIVACY, "item")
_ACTIVE = ns.clark(ns.PRIVACY, "active")
_DEFAULT = ns.clark(ns.PRIVACY, "default")
_BLOCK_ALL_KINDS = "<message/><presence-in/><presence-out/><iq/>"
_ACTIONS = {a.value: a for a in PrivacyAction}


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise LocalProtocolError(f"a privacy list name is a non-empty string, not {name!r}")
    escape_attr(name)


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise LocalProtocolError(f"timeout must be a positive number of seconds: {timeout!r}")


def _iq(type_: str, iq_id: str, payload: str) -> str:
    return (
        f'<iq type="{type_}" id="{escape_attr(iq_id)}">'
        f'<query xmlns="{ns.PRIVACY}">{payload}</query></iq>'
    )


def _by_user(items: Iterable[PrivacyItem]) -> dict[int, PrivacyItem]:
    keyed: dict[int, PrivacyItem] = {}
    for item in items:
        keyed[item.user_id] = item
    return keyed


def merge_privacy_update(
    current: Iterable[PrivacyItem], changes: Iterable[PrivacyItem]
) -> tuple[PrivacyItem, ...]:
    """The SDK's ``privacylist.update`` merge (since SDK 4.1.4), sorted by user id.

    An ``allow`` change removes the user from the list (allowed users are not stored); a
    ``deny`` change replaces the user's entry (or adds it).
    """
    merged = _by_user(current)
    for change in changes:
        if change.action is PrivacyAction.ALLOW:
            merged.pop(change.user_id, None)
        else:
            merged[change.user_id] = change
    return tuple(merged[k] for k in sorted(merged))


def privacy_update(
    name: str, current: Iterable[PrivacyItem], changes: Iterable[PrivacyItem]
) -> SetPrivacyList | DeletePrivacyList:
    """The command that the SDK's ``privacylist.update`` sends after its get.

    Usually the merged list (:func:`merge_privacy_update`).  When the merge leaves no
    entry (the chat guide's own example: a list holding one ``deny``, updated with an
    ``allow`` for the same user), the SDK sends the list element without items, which
    XEP-0016 defines as removing the list; so do we (:class:`DeletePrivacyList`, the same
    bytes), instead of refusing an empty :class:`SetPrivacyList`.
    """
    merged = merge_privacy_update(current, changes)
    if not merged:
        return DeletePrivacyList(name=name)
    return SetPrivacyList(name=name, items=merged)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPrivacyList(StanzaCommand):
    """Create or replace the list ``name`` (at least one item; an empty list would delete
    it -- use :class:`DeletePrivacyList`).  Answered with ``PrivacyListSaved``."""

    name: str
    items: tuple[PrivacyItem, ...]
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_timeout(self.timeout)
        if not isinstance(self.items, tuple) or not self.items:
            raise LocalProtocolError("a privacy list is a non-empty tuple of PrivacyItem")
        for item in self.items:
            if not isinstance(item, PrivacyItem):
                raise LocalProtocolError(f"not a PrivacyItem: {item!r}")

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="set"><query><list name><item .../>...</list></query></iq>``."""
        muc = prepare_domain(ctx.muc_host)
        out = [f'<list name="{escape_attr(self.name)}">']
        keyed = _by_user(self.items)
        for k, user_id in enumerate(sorted(keyed)):
            item = keyed[user_id]
            kinds = "" if item.mutual_block else _BLOCK_ALL_KINDS
            action = item.action.value
            for order, value in (
                (2 * k + 1, user_jid(user_id, ctx.app_id, ctx.chat_host)),
                (2 * k + 2, f"{muc}/{user_id}"),
            ):
                head = (
                    f'<item type="jid" value="{escape_attr(value)}" action="{action}" '
                    f'order="{order}"'
                )
                out.append(f"{head}>{kinds}</item>" if kinds else f"{head}/>")
        out.append("</list>")
        iq_id = ctx.new_iq_id("edit")
        name = self.name
        return OutboundStanza(
            xml=_iq("set", iq_id, "".join(out)),
            stanza_id=iq_id,
            result_parser=lambda _el: PrivacyListSaved(name=name),
            to=None,
            kind="iq",
            timeout=self.timeout,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GetPrivacyList(StanzaCommand):
    """Fetch the list ``name``; answered with ``PrivacyListReceived``."""

    name: str
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="get"><query><list name/></query></iq>``."""
        iq_id = ctx.new_iq_id("getlist")
        return OutboundStanza(
            xml=_iq("get", iq_id, f'<list name="{escape_attr(self.name)}"/>'),
            stanza_id=iq_id,
            result_parser=privacy_list_parser(ctx.muc_host),
            to=None,
            kind="iq",
            timeout=self.timeout,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GetPrivacyListNames(StanzaCommand):
    """Fetch the names of all lists and the active/default ones; answered with
    ``PrivacyListNames``."""

    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="get"><query/></iq>``."""
        iq_id = ctx.new_iq_id("getNames")
        return OutboundStanza(
            xml=_iq("get", iq_id, ""),
            stanza_id=iq_id,
            result_parser=privacy_names_parser,
            to=None,
            kind="iq",
            timeout=self.timeout,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDefaultPrivacyList(StanzaCommand):
    """Make ``name`` the default (active) list, or decline the default with ``None``;
    answered with ``PrivacyDefaultChanged``."""

    name: str | None
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        if self.name is not None:
            _check_name(self.name)
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="set"><query><default name/></query></iq>`` (``<default/>`` to decline)."""
        iq_id = ctx.new_iq_id("default")
        payload = (
            "<default/>" if self.name is None else f'<default name="{escape_attr(self.name)}"/>'
        )
        name = self.name
        return OutboundStanza(
            xml=_iq("set", iq_id, payload),
            stanza_id=iq_id,
            result_parser=lambda _el: PrivacyDefaultChanged(name=name),
            to=None,
            kind="iq",
            timeout=self.timeout,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletePrivacyList(StanzaCommand):
    """Delete the list ``name`` (a list without items); answered with
    ``PrivacyListDeleted``."""

    name: str
    timeout: float = DEFAULT_IQ_TIMEOUT

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_timeout(self.timeout)

    def build(self, ctx: StanzaContext) -> OutboundStanza:
        """``<iq type="set"><query><list name/></query></iq>``."""
        iq_id = ctx.new_iq_id("remove")
        name = self.name
        return OutboundStanza(
            xml=_iq("set", iq_id, f'<list name="{escape_attr(name)}"/>'),
            stanza_id=iq_id,
            result_parser=lambda _el: PrivacyListDeleted(name=name),
            to=None,
            kind="iq",
            timeout=self.timeout,
        )


def _query(element: etree._Element) -> etree._Element:
    for child in element:
        if child.tag == _QUERY:
            return child
    raise ValueError("privacy answer without <query xmlns='jabber:iq:privacy'>")


def privacy_names_parser(element: etree._Element) -> Event:
    """Result parser of ``GetPrivacyListNames``."""
    names: list[str] = []
    default = active = None
    for child in _query(element):
        if child.tag == _LIST:
            name = child.get("name")
            if not name:
                raise ValueError("privacy <list> without a name")
            names.append(name)
        elif child.tag == _DEFAULT:
            default = child.get("name") or None
        elif child.tag == _ACTIVE:
            active = child.get("name") or None
    return PrivacyListNames(names=tuple(names), default=default, active=active)


def privacy_list_parser(muc_host: str) -> Callable[[etree._Element], Event]:
    """Result parser of ``GetPrivacyList``.

    Reads the SDK's pairs: an item whose value is a user bare JID gives the user's entry;
    its ``{mucHost}/{userId}`` twin is recognised and skipped.  Items of other types
    (group, subscription, fall-through) were not written by this vocabulary and are
    skipped too.  A bad ``action`` raises ``ValueError``.
    """

    muc = muc_host.lower()

    def parse(element: etree._Element) -> Event:
        query = _query(element)
        lst = next((c for c in query if c.tag == _LIST), None)
        if lst is None:
            raise ValueError("privacy answer without <list>")
        name = lst.get("name", "")
        items: dict[int, PrivacyItem] = {}
        for item in lst:
            if item.tag != _ITEM or item.get("type") != "jid":
                continue
            action = _ACTIONS.get(item.get("action", ""))
            if action is None:
                raise ValueError(f"privacy item action {item.get('action')!r}")
            jid = parse_jid(item.get("value", ""))
            if jid is None or (jid.domain.lower() == muc and not jid.local):
                continue
            user_id = user_id_from_jid(jid)
            if user_id is None or user_id in items:
                continue
            has_kinds = any(isinstance(c.tag, str) for c in item)
            items[user_id] = PrivacyItem(
                user_id=user_id,
                action=action,
                mutual_block=action is PrivacyAction.DENY and not has_kinds,
            )
        return PrivacyListReceived(name=name, items=tuple(items.values()))

    return parse
