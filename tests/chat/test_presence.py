"""Users' presences (RFC 6121 section 4) become PresenceReceived; our own echo and our other
resources are marked.  Before issue 14 they were UnhandledStanza, including the echo of
the presence every client sends after login."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto import MalformedStanza, UnhandledStanza
from cubeproto._xmlstream import escape_text
from cubeproto.chat import ChatSession, PresenceReceived

from .helpers import APP, HOST, ME, PEER, FakeContext, parse

MINE = f"{ME}-{APP}@{HOST}"
THEIRS = f"{PEER}-{APP}@{HOST}"


def events(xml: str) -> tuple[object, ...]:
    return ChatSession().handle_stanza(parse(xml), FakeContext()).events


def test_our_own_presence_echo() -> None:
    (event,) = events(f'<presence from="{MINE}/RES" to="{MINE}/RES"/>')
    assert event == PresenceReceived(
        from_jid=f"{MINE}/RES", user_id=ME, resource="RES", available=True, own=True, echo=True
    )


def test_our_other_resource_with_show_status_and_priority() -> None:
    (event,) = events(
        f'<presence from="{MINE}/phone"><show>away</show><status>on the bus</status>'
        "<status xml:lang='de'>im Bus</status><priority>-5</priority></presence>"
    )
    assert event == PresenceReceived(
        from_jid=f"{MINE}/phone",
        user_id=ME,
        resource="phone",
        available=True,
        show="away",
        status="on the bus",
        priority=-5,
        own=True,
        echo=False,
    )


def test_another_user_going_offline() -> None:
    (event,) = events(f'<presence type="unavailable" from="{THEIRS}/web"/>')
    assert event == PresenceReceived(
        from_jid=f"{THEIRS}/web", user_id=PEER, resource="web", available=False
    )


def test_a_bare_jid_and_a_non_connectycube_user() -> None:
    (event,) = events('<presence from="someone@elsewhere.example"/>')
    assert isinstance(event, PresenceReceived)
    assert (event.user_id, event.resource, event.own) == (None, None, False)


@pytest.mark.parametrize("kind", ["subscribe", "subscribed", "unsubscribe", "probe"])
def test_other_presence_types_stay_unhandled(kind: str) -> None:
    (event,) = events(f'<presence type="{kind}" from="{THEIRS}"/>')
    assert isinstance(event, UnhandledStanza)


@pytest.mark.parametrize(
    "child",
    [
        "<show>sleeping</show>",
        "<show/>",
        "<priority>128</priority>",
        "<priority>-129</priority>",
        "<priority>high</priority>",
        "<priority>\uff11</priority>",  # a fullwidth digit: isdigit() but not ASCII
    ],
)
def test_values_rfc_6121_does_not_allow_are_malformed(child: str) -> None:
    (event,) = events(f'<presence from="{THEIRS}/web">{child}</presence>')
    assert isinstance(event, MalformedStanza) and event.reason


@given(
    show=st.one_of(st.none(), st.text(max_size=8)),
    status=st.one_of(st.none(), st.text(max_size=20)),
    priority=st.one_of(st.none(), st.text(max_size=6), st.integers(-300, 300).map(str)),
)
def test_any_values_give_a_presence_or_a_malformed_stanza(
    show: str | None, status: str | None, priority: str | None
) -> None:
    parts = []
    for name, value in (("show", show), ("status", status), ("priority", priority)):
        if value is not None:
            try:
                parts.append(f"<{name}>{escape_text(value)}</{name}>")
            except Exception:
                return  # not writable as XML 1.0 text: no peer can send it either
    (event,) = events(f'<presence from="{THEIRS}/web">{"".join(parts)}</presence>')
    if isinstance(event, PresenceReceived):
        assert event.show in (None, "away", "chat", "dnd", "xa")
        assert event.priority is None or -128 <= event.priority <= 127
        assert event.status == (None if status is None else status)
    else:
        assert isinstance(event, MalformedStanza)
