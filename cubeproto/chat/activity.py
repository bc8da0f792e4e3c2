"""Last activity (XEP-0012 and ConnectyCube's ``status_streaming`` subscription), client
state (the Tigase ``mobile#v2`` IQ of the SDK's markActive/markInactive) and the handling
of IQs nothing else consumed.

Pushed last-activity updates are IQs from the watched user with
``<query xmlns="jabber:iq:last" seconds="N"/>``; the SDK does not check the namespace (we
do, as the Flutter SDK does).  Their IQ type is not documented: a ``get``/``set`` push is
answered with an empty result (the SDK's xmpp.js answers it with an error).  Any other
``get``/``set`` IQ is answered the way the SDK's xmpp.js does: ``service-unavailable`` for
one child, ``bad-request`` for none or several (RFC 6120 8.2.3 requires an answer).
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from .._records import fast_constructor
from .._stanza_error import error_reply
from .._xmlstream import escape_attr
from ..commands import OutboundStanza
from ..errors import StanzaErrorCondition, StanzaErrorType
from ..events import Event, UnhandledStanza
from . import _ns as ns
from ._fault import StanzaFault
from .events import ClientStateChanged, LastActivity, LastActivitySubscriptionChanged
from .jid import user_id_of

__all__ = [
    "classify_iq",
    "client_state_parser",
    "last_activity_parser",
    "subscription_parser",
]

_LAST_QUERY = ns.clark(ns.LAST, "query")
_new_last_activity = fast_constructor(LastActivity)
#: Seconds are at most this many digits (an unsigned 64-bit number).
_MAX_SECONDS_DIGITS = 20


def _seconds(query: etree._Element) -> int | None:
    text = query.get("seconds")
    if text is None:
        return None
    if not (0 < len(text) <= _MAX_SECONDS_DIGITS and text.isascii() and text.isdigit()):
        raise ValueError(f"last activity seconds {text!r} is not a non-negative integer")
    return int(text)


def _last_query(element: etree._Element) -> etree._Element | None:
    for child in element:
        if child.tag == _LAST_QUERY:
            return child
    return None


def last_activity_parser(user_id: int) -> Callable[[etree._Element], Event]:
    """Result parser of ``GetLastActivity``; ``ValueError`` if ``seconds`` is missing/bad."""

    def parse(element: etree._Element) -> Event:
        query = _last_query(element)
        seconds = None if query is None else _seconds(query)
        if seconds is None:
            raise ValueError("last activity answer without seconds")
        return LastActivity(user_id=user_id, seconds=seconds)

    return parse


def subscription_parser(user_id: int, enabled: bool) -> Callable[[etree._Element], Event]:
    """Result parser of ``SubscribeLastActivity`` (the answer's content is not used)."""

    def parse(element: etree._Element) -> Event:
        return LastActivitySubscriptionChanged(user_id=user_id, enabled=enabled)

    return parse


def client_state_parser(active: bool) -> Callable[[etree._Element], Event]:
    """Result parser of the Tigase markActive/markInactive IQ."""

    def parse(element: etree._Element) -> Event:
        return ClientStateChanged(active=active)

    return parse


def _reply(element: etree._Element, payload: str | None, *, error: bool = False) -> str:
    iq_id = element.get("id")
    if not iq_id:
        raise StanzaFault("IQ request without an id")
    to = element.get("from")
    to_attr = f' to="{escape_attr(to)}"' if to else ""
    if error:
        children = sum(1 for c in element if isinstance(c.tag, str))
        condition, etype = (
            (StanzaErrorCondition.SERVICE_UNAVAILABLE, StanzaErrorType.CANCEL)
            if children == 1
            else (StanzaErrorCondition.BAD_REQUEST, StanzaErrorType.MODIFY)
        )
        return error_reply(
            "iq", escape_attr(iq_id), escape_attr(to) if to else None, condition, etype
        )
    return f'<iq type="result" id="{escape_attr(iq_id)}"{to_attr}/>'


def classify_iq(element: etree._Element) -> tuple[tuple[Event, ...], tuple[OutboundStanza, ...]]:
    """Classify an IQ the connection did not consume: ``(events, replies)``."""
    itype = element.get("type")
    query = _last_query(element)
    from_value = element.get("from") if query is not None else None
    if query is not None and from_value and query.get("seconds") is not None:
        try:
            user_id = user_id_of(from_value)
        except ValueError:
            raise StanzaFault(f"malformed from JID {from_value!r}") from None
        if user_id is None:
            raise StanzaFault(f"last activity push from a non-user JID {from_value!r}")
        try:
            seconds = _seconds(query)
        except ValueError as exc:
            raise StanzaFault(str(exc)) from None
        assert seconds is not None
        replies: tuple[OutboundStanza, ...] = ()
        if itype in ("get", "set"):
            replies = (OutboundStanza(xml=_reply(element, None), kind="iq"),)
        return (_new_last_activity(user_id=user_id, seconds=seconds),), replies
    event = UnhandledStanza.of_element(element)
    if itype in ("get", "set"):
        return (event,), (OutboundStanza(xml=_reply(element, None, error=True), kind="iq"),)
    return (event,), ()
