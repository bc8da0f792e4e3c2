"""Privacy lists (XEP-0016 as ConnectyCube uses it) between the official SDK
and our client.

A privacy list belongs to an account, so for reading and writing the SDK and our client log
in as the *same* user (two resources): a list one of them writes is read back by the
other.  Then the effect: a default list written by one side blocks the other side's
messages, and the sender sees the bounce.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from ejabberd_server import CubeUser

from cubeproto.chat import (
    DeletePrivacyList,
    GetPrivacyList,
    GetPrivacyListNames,
    MessageBounced,
    PrivacyAction,
    PrivacyDefaultChanged,
    PrivacyItem,
    PrivacyListDeleted,
    PrivacyListNames,
    PrivacyListReceived,
    PrivacyListSaved,
    SendMessage,
    SetDefaultPrivacyList,
    SetPrivacyList,
)
from cubeproto.errors import StanzaErrorCondition

from .conftest import Pair
from .ourpeer import OurPeer
from .sdkpeer import SdkPeer

#: The guide's example list: a two-way block, a one-way block and an allowed user, given
#: out of id order (both sides write items in ascending user-id order).
ITEMS = (
    PrivacyItem(user_id=48, action=PrivacyAction.DENY, mutual_block=True),
    PrivacyItem(user_id=34, action=PrivacyAction.DENY),
    PrivacyItem(user_id=18, action=PrivacyAction.ALLOW),
)
SDK_ITEMS = [
    {"user_id": 48, "action": "deny", "mutualBlock": True},
    {"user_id": 34, "action": "deny"},
    {"user_id": 18, "action": "allow"},
]


@pytest.fixture
def same_user(
    transport: str,
    ejabberd_user: Callable[[], CubeUser],
    make_sdk: Callable[[CubeUser, str], SdkPeer],
    make_ours: Callable[[CubeUser, str], OurPeer],
) -> Pair:
    """The SDK and our client logged in as one account."""
    user = ejabberd_user()
    ours = make_ours(user, transport)
    sdk = make_sdk(user, transport)
    return Pair(sdk, user, ours, transport)


def test_sdk_writes_ours_reads(same_user: Pair) -> None:
    sdk, ours = same_user.sdk, same_user.ours
    sdk.call("chat.privacylist.create", {"name": "sdkList", "items": SDK_ITEMS})
    ours.send(GetPrivacyList(name="sdkList"))
    got = ours.wait_for(PrivacyListReceived, lambda e: e.name == "sdkList")
    # Ascending user ids, as the SDK wrote them; mutual_block read back from the empty items.
    assert got.items == tuple(sorted(ITEMS, key=lambda i: i.user_id))

    sdk.call("chat.privacylist.setAsDefault", "sdkList")
    ours.send(GetPrivacyListNames())
    names = ours.wait_for(PrivacyListNames)
    assert (names.names, names.default) == (("sdkList",), "sdkList")

    sdk.call("chat.privacylist.setAsDefault", None)
    sdk.call("chat.privacylist.delete", "sdkList")
    ours.send(GetPrivacyListNames())
    names = ours.wait_for(PrivacyListNames)
    assert (names.names, names.default) == ((), None)


def test_ours_writes_sdk_reads(same_user: Pair) -> None:
    sdk, ours = same_user.sdk, same_user.ours
    ours.send(SetPrivacyList(name="ourList", items=ITEMS))
    ours.wait_for(PrivacyListSaved, lambda e: e.name == "ourList")
    # D4: the SDK does not report mutualBlock back.
    assert sdk.call("chat.privacylist.getList", "ourList") == {
        "name": "ourList",
        "items": [
            {"user_id": 18, "action": "allow"},
            {"user_id": 34, "action": "deny"},
            {"user_id": 48, "action": "deny"},
        ],
    }

    ours.send(SetDefaultPrivacyList(name="ourList"))
    ours.wait_for(PrivacyDefaultChanged, lambda e: e.name == "ourList")
    names = sdk.call("chat.privacylist.getNames")
    assert names["default"] == "ourList"
    # D4: the nameless <active/> reads as "" (not null), and "names" also holds the names of
    # the <active/> and <default/> entries.
    assert names["active"] == ""
    assert sorted(names["names"]) == sorted(["", "ourList", "ourList"])

    ours.send(SetDefaultPrivacyList(name=None))
    ours.wait_for(PrivacyDefaultChanged, lambda e: e.name is None)
    ours.send(DeletePrivacyList(name="ourList"))
    ours.wait_for(PrivacyListDeleted, lambda e: e.name == "ourList")
    names = sdk.call("chat.privacylist.getNames")
    assert names["default"] == ""  # D4: nameless <default/> again
    assert "ourList" not in names["names"]
    # D8: the server pushed the list change to every resource (an IQ set with from and
    # <query xmlns="jabber:iq:privacy">); the SDK takes any unsolicited IQ with a from and a
    # <query> for a last-activity update: its listener got (own user id, NaN).
    pushes = sdk.take("onLastUserActivityListener")
    assert pushes, "the SDK reported no privacy push as last activity"
    assert all(uid == same_user.sdk_id and math.isnan(secs) for uid, secs in pushes), pushes


def test_sdk_block_list_bounces_our_message(pair: Pair) -> None:
    """The SDK user blocks us with a default list: our message comes back as an error."""
    pair.sdk.call(
        "chat.privacylist.create",
        {"name": "block", "items": [{"user_id": pair.our_id, "action": "deny"}]},
    )
    pair.sdk.call("chat.privacylist.setAsDefault", "block")
    mid = pair.ours.send(SendMessage(to_user=pair.sdk_id, body="blocked?"))
    bounced = pair.ours.wait_for(MessageBounced, lambda e: e.message_id == mid)
    assert bounced.error.condition is StanzaErrorCondition.SERVICE_UNAVAILABLE
    assert pair.sdk.take("onMessageListener") == []


def test_our_block_list_bounces_sdk_message(pair: Pair) -> None:
    """We block the SDK user with a default list: the SDK's error listener gets its message id."""
    pair.ours.send(
        SetPrivacyList(
            name="block", items=(PrivacyItem(user_id=pair.sdk_id, action=PrivacyAction.DENY),)
        )
    )
    pair.ours.wait_for(PrivacyListSaved)
    pair.ours.send(SetDefaultPrivacyList(name="block"))
    pair.ours.wait_for(PrivacyDefaultChanged)
    mid = pair.sdk.call("chat.send", pair.our_id, {"body": "blocked?"})
    args = pair.sdk.wait_event("onMessageErrorListener", lambda a: a[0] == mid)
    # The SDK builds {code, info} from the legacy error@code attribute and <text>; ejabberd's
    # bounce (<service-unavailable/>, type cancel) has neither, so code 0 and info null.
    assert args == [mid, {"code": 0, "info": None}]
    assert pair.sdk.take("onMessageListener") == []
