"""JID helpers: ConnectyCube id conventions (``{userId}-{appId}``,
``{appId}_{dialogId}``, the user id as occupant nick) and peer-JID robustness."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.chat import (
    Jid,
    dialog_id_from_room,
    occupant_jid,
    occupant_user_id,
    parse_jid,
    prepare_domain,
    prepare_localpart,
    room_jid,
    user_id_from_jid,
    user_jid,
)
from cubeproto.errors import LocalProtocolError

from .helpers import APP, GROUP, HOST, MUC


def test_user_room_and_occupant_jids_have_the_reference_shapes() -> None:
    assert user_jid(78, APP, HOST) == "78-105@chat.connectycube.com"
    assert room_jid(GROUP, APP, MUC) == f"105_{GROUP}@muc.chat.connectycube.com"
    assert occupant_jid(room_jid(GROUP, APP, MUC), 78) == f"105_{GROUP}@{MUC}/78"


def test_ids_come_back_out_of_jids() -> None:
    full = parse_jid("777-105@chat.connectycube.com/1571722472-connectycube-2386480")
    assert full == Jid("777-105", "chat.connectycube.com", "1571722472-connectycube-2386480")
    assert user_id_from_jid(full) == 777
    occupant = parse_jid(f"105_{GROUP}@{MUC}/78")
    assert occupant is not None
    assert dialog_id_from_room(occupant) == GROUP
    assert occupant_user_id(occupant) == 78
    # the SDK's parseInt reads the app id out of a room JID ("105_..."); we do not
    assert user_id_from_jid(occupant) is None


@pytest.mark.parametrize(
    "value",
    ["", "@host", "a@", "a@b/", "a b@host", "a<b@host", "host/", "a@b c", "a@@b", "a\x01@b"],
)
def test_malformed_peer_jids_are_none(value: str) -> None:
    assert parse_jid(value) is None


@pytest.mark.parametrize("local", ["alice", "x-y", "abc-105", "9" * 21, "0-105", "-105", "٣-105"])
def test_non_user_localparts_have_no_user_id(local: str) -> None:
    jid = parse_jid(f"{local}@host")
    assert jid is not None
    assert user_id_from_jid(jid) is None


@given(st.text(max_size=60))
def test_parse_jid_never_raises_and_round_trips(value: str) -> None:
    jid = parse_jid(value)
    if jid is not None:
        assert parse_jid(str(jid)) == jid


@given(st.integers(min_value=1, max_value=10**19), st.integers(min_value=1, max_value=10**6))
def test_user_id_round_trip(user_id: int, app_id: int) -> None:
    jid = parse_jid(user_jid(user_id, app_id, HOST))
    assert jid is not None and user_id_from_jid(jid) == user_id


@given(st.text(alphabet="0123456789abcdef", min_size=1, max_size=40))
def test_dialog_id_round_trip(dialog: str) -> None:
    jid = parse_jid(occupant_jid(room_jid(dialog, APP, MUC), 5))
    assert jid is not None
    assert dialog_id_from_room(jid) == dialog
    assert occupant_user_id(jid) == 5


def test_preparation_is_rfc7622() -> None:
    assert prepare_localpart("ABC") == "abc"  # UsernameCaseMapped
    assert prepare_domain("Chat.Example.COM.") == "chat.example.com"
    assert prepare_domain("bücher.example") == "bücher.example"
    assert prepare_domain("[::1]") == "[::1]"
    with pytest.raises(LocalProtocolError):
        prepare_localpart("a b")
    with pytest.raises(LocalProtocolError):
        prepare_domain("bad domain")
    with pytest.raises(LocalProtocolError):
        prepare_domain("")


@pytest.mark.parametrize("bad", [0, -1, True, "78", 10**20])
def test_bad_user_ids_are_refused(bad: object) -> None:
    with pytest.raises(LocalProtocolError):
        user_jid(bad, APP, HOST)  # type: ignore[arg-type]


def test_bad_dialog_ids_are_refused() -> None:
    for bad in ["", "a b", "a@b", "a/b"]:
        with pytest.raises(LocalProtocolError):
            room_jid(bad, APP, MUC)
