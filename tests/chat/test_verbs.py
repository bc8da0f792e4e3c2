"""The SDK's verbs as plans (cubeproto.chat.verbs): what each asks the adapter to do and
what it makes of the answers, stepped by hand with real commands and events, no client."""

from __future__ import annotations

import pytest

from cubeproto import Ping, PongReceived
from cubeproto.chat import (
    DeletePrivacyList,
    DialogJoined,
    EditMessage,
    GetPrivacyList,
    JoinDialog,
    PrivacyAction,
    PrivacyItem,
    PrivacyListReceived,
    SendMessage,
    SetPrivacyList,
    verbs,
)
from cubeproto.errors import (
    LocalProtocolError,
    StanzaError,
    StanzaErrorCondition,
    StanzaErrorType,
)
from cubeproto.reconnect import IqError


def test_send_message_sends_the_command_and_returns_its_id() -> None:
    run = verbs.PlanRun(verbs.send_message(to_user=7, body="hi", markable=True))
    assert run.step == verbs.Send(SendMessage(to_user=7, body="hi", markable=True))
    run.answer("65a0c0ffee00000000000001")
    assert run.step is None
    assert run.result == "65a0c0ffee00000000000001"


def test_edit_message_passes_every_spelled_field() -> None:
    run = verbs.PlanRun(verbs.edit_message("m1", "new", to_dialog="d1", last=True, edit_id="e"))
    expected = EditMessage(message_id="m1", body="new", to_dialog="d1", last=True, edit_id="e")
    assert run.step == verbs.Send(expected)


def test_join_dialog_waits_and_returns_the_typed_answer() -> None:
    run = verbs.PlanRun(verbs.join_dialog("d1"))
    assert run.step == verbs.Call(JoinDialog(dialog_id="d1"))
    joined = DialogJoined(dialog_id="d1")
    run.answer(joined)
    assert run.result is joined


def test_an_answer_of_the_wrong_type_is_a_local_error() -> None:
    run = verbs.PlanRun(verbs.join_dialog("d1"))
    with pytest.raises(LocalProtocolError, match="expected DialogJoined"):
        run.answer(None)


def test_update_privacy_list_gets_merges_and_sets() -> None:
    deny_7 = PrivacyItem(user_id=7, action=PrivacyAction.DENY)
    deny_8 = PrivacyItem(user_id=8, action=PrivacyAction.DENY)
    run = verbs.PlanRun(verbs.update_privacy_list("blocked", [deny_8]))
    assert run.step == verbs.Call(GetPrivacyList(name="blocked"))
    run.answer(PrivacyListReceived(name="blocked", items=(deny_7,)))
    assert isinstance(run.step, verbs.Call)
    assert run.step.command == SetPrivacyList(name="blocked", items=(deny_7, deny_8))
    run.answer(None)
    assert run.step is None


def test_update_that_empties_the_list_removes_it_as_the_sdk_does() -> None:
    deny_7 = PrivacyItem(user_id=7, action=PrivacyAction.DENY)
    allow_7 = PrivacyItem(user_id=7, action=PrivacyAction.ALLOW)
    run = verbs.PlanRun(verbs.update_privacy_list("blocked", [allow_7]))
    run.answer(PrivacyListReceived(name="blocked", items=(deny_7,)))
    assert run.step == verbs.Call(DeletePrivacyList(name="blocked"))


def test_ping_returns_the_round_trip_and_raises_for_an_error_answer() -> None:
    run = verbs.PlanRun(verbs.ping(timeout=2.0))
    assert run.step == verbs.Call(Ping(timeout=2.0))
    run.answer(PongReceived(ping_id="p1", round_trip=0.25))
    assert run.result == 0.25

    error = StanzaError(
        condition=StanzaErrorCondition.SERVICE_UNAVAILABLE,
        condition_name="service-unavailable",
        type=StanzaErrorType.CANCEL,
    )
    failing = verbs.PlanRun(verbs.ping())
    with pytest.raises(IqError, match="service-unavailable") as caught:
        failing.answer(PongReceived(ping_id="p2", round_trip=0.1, error=error))
    assert caught.value.error is error


def test_a_misspelt_keyword_is_a_type_error_before_anything_is_sent() -> None:
    with pytest.raises(TypeError, match="to_usr"):
        verbs.edit_message("m1", "b", to_usr=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="savetohistory"):
        verbs.send_message(to_user=2, savetohistory=True)  # type: ignore[call-arg]
