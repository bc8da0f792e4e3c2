"""The chat guide's examples, done the way the guide writes them, against the local server
(issue 14 part C): each of these failed before its fix."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import anyio
import pytest
from cubeproto.transports.http_anyio import AsyncRestClient
from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import CubeUser, LocalChatClient

from cubeproto import UnhandledStanza
from cubeproto.chat import (
    DeletePrivacyList,
    MessageBounced,
    MessageReceived,
    PresenceReceived,
    PrivacyAction,
    PrivacyItem,
    SetPrivacyList,
    privacy_update,
)
from cubeproto.rest import ApiError
from cubeproto.rest import requests as R

from .conftest import Connector

NewUser = Callable[..., CubeUser]

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_guide_privacy_update_with_allow_for_the_only_entry(
    connect: Connector, cube_user: NewUser
) -> None:
    """Guide, "Update privacy list": decline the default, update the list with an allow for
    the one user it denies, as the SDK does.  The SDK's merge leaves nothing and it sends
    the list without items (XEP-0016: removing the list); we used to refuse the empty list
    with ``LocalProtocolError`` before anything reached the server."""
    alice, bob = cube_user(), cube_user()
    a, b = connect(alice), connect(bob)
    b.create_privacy_list("myList", [PrivacyItem(user_id=alice.id, action=PrivacyAction.DENY)])
    b.set_default_privacy_list("myList")
    b.set_default_privacy_list(None)
    b.update_privacy_list("myList", [PrivacyItem(user_id=alice.id, action=PrivacyAction.ALLOW)])
    assert b.privacy_list_names().names == ()
    mid = a.send_message(to_user=bob.id, body="unblocked")
    assert b.wait_for(MessageReceived, message_id=mid).body == "unblocked"


def test_privacy_update_command_is_the_sdks() -> None:
    """The pure part: the merged list when something is left, the removal otherwise."""
    deny = PrivacyItem(user_id=34, action=PrivacyAction.DENY)
    deny48 = PrivacyItem(user_id=48, action=PrivacyAction.DENY, mutual_block=True)
    allow34 = PrivacyItem(user_id=34, action=PrivacyAction.ALLOW)
    assert privacy_update("myList", [deny], [allow34]) == DeletePrivacyList(name="myList")
    assert privacy_update("myList", [deny, deny48], [allow34]) == SetPrivacyList(
        name="myList", items=(deny48,)
    )
    assert privacy_update("myList", [], [deny]) == SetPrivacyList(name="myList", items=(deny,))


def test_blocking_download_as_first_call_and_upload_reports_size(cube_user: NewUser) -> None:
    """``download_blob`` as a client's first call creates the session (it raised "no session
    yet"), and ``upload_file`` returns the blob with its size (it returned ``size=None``)."""
    alice, bob = cube_user(), cube_user()
    with BlockingRestClient.connect(alice.credentials, base_url=alice.api_url) as up:
        blob = up.upload_file(
            io.BytesIO(PHOTO), name="p.png", content_type="image/png", size=len(PHOTO)
        )
    assert blob.size == len(PHOTO)
    assert blob.uid is not None
    sink = io.BytesIO()
    with BlockingRestClient.connect(bob.credentials, base_url=bob.api_url) as down:
        assert down.session.token is None
        assert down.download_blob(blob.uid, sink) == len(PHOTO)
    assert sink.getvalue() == PHOTO


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_async_download_as_first_call_and_upload_reports_size(
    cube_user: NewUser, backend: str
) -> None:
    alice, bob = cube_user(), cube_user()
    sink = io.BytesIO()

    async def main() -> None:
        async with AsyncRestClient.connect(alice.credentials, base_url=alice.api_url) as up:
            blob = await up.upload_file(
                io.BytesIO(PHOTO), name="p.png", content_type="image/png", size=len(PHOTO)
            )
        assert blob.size == len(PHOTO)
        assert blob.uid is not None
        async with AsyncRestClient.connect(bob.credentials, base_url=bob.api_url) as down:
            assert down.session.token is None
            assert await down.download_blob(blob.uid, sink) == len(PHOTO)

    anyio.run(main, backend=backend)
    assert sink.getvalue() == PHOTO


NewRest = Callable[[CubeUser], BlockingRestClient]


def test_dialog_filters_take_unix_time_and_iso_and_refuse_nonsense(
    cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    """``list_dialogs(filters={"updated_at": {"gt": <unix time>}})`` (the guide's incremental
    sync) matched nothing while an ISO string matched; both are moments now, and a value
    that is neither is a 422 rather than an empty answer."""
    alice, bob = cube_user(), cube_user()
    api = cube_rest_client(alice)
    before = time.time() - 60
    dialog = api.call(R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    after = time.time() + 60

    def ids(filters: dict[str, object]) -> list[str]:
        return [d.id for d in api.call(R.list_dialogs(filters=filters)).items]

    assert ids({"updated_at": {"gt": int(before)}}) == [dialog.id]
    assert ids({"updated_at": {"gt": int(after)}}) == []
    iso_before = datetime.fromtimestamp(before, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids({"updated_at": {"gt": iso_before}}) == [dialog.id]
    assert ids({"created_at": {"lte": int(after), "gte": int(before)}}) == [dialog.id]
    with pytest.raises(ApiError) as refused:
        ids({"updated_at": {"gt": "yesterday"}})
    assert refused.value.status == 422


def test_search_honours_start_and_end_date(cube_user: NewUser, cube_rest_client: NewRest) -> None:
    """``search`` ignored ``start_date``/``end_date`` on the local server."""
    alice, bob = cube_user(), cube_user()
    api = cube_rest_client(alice)
    dialog = api.call(R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    sent = api.call(R.create_message(chat_dialog_id=dialog.id, message="needle in hay"))
    now = datetime.now(timezone.utc)

    def found(start: datetime, end: datetime) -> list[str]:
        result = api.call(R.search("needle", start_date=start, end_date=end))
        return [m.id for m in result.messages]

    assert found(now - timedelta(days=1), now + timedelta(days=1)) == [sent.id]
    assert found(now - timedelta(days=30), now - timedelta(days=29)) == []
    assert api.call(R.search("needle")).messages[0].id == sent.id
    with pytest.raises(ApiError) as refused:
        found(now - timedelta(days=200), now)
    assert refused.value.status == 422


def test_message_history_filters_on_updated_at(
    cube_user: NewUser, cube_rest_client: NewRest
) -> None:
    """``updated_at`` is a documented message filter; the stored record named it otherwise,
    so it matched nothing."""
    alice, bob = cube_user(), cube_user()
    api = cube_rest_client(alice)
    dialog = api.call(R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url))
    sent = api.call(R.create_message(chat_dialog_id=dialog.id, message="hello"))
    page = api.call(
        R.list_messages(dialog.id, filters={"updated_at": {"gt": int(time.time()) - 60}})
    )
    assert [m.id for m in page.items] == [sent.id]
    page = api.call(
        R.list_messages(dialog.id, filters={"updated_at": {"gt": int(time.time()) + 60}})
    )
    assert page.items == ()


def test_a_private_message_naming_a_dialog_it_cannot_be_filed_under_bounces(
    cube_user: NewUser, cube_chat_client: Callable[..., LocalChatClient], cube_rest_client: NewRest
) -> None:
    """A 1-1 message whose ``dialog_id`` does not exist (or is a dialog the two users are
    not both in) was acknowledged and delivered as if stored; it bounces now, and one with
    the right dialog still arrives."""
    alice, bob, carol = cube_user(), cube_user(), cube_user()
    private = cube_rest_client(alice).call(
        R.create_dialog(type=3, occupants_ids=[bob.id], base_url=alice.api_url)
    )
    theirs = cube_rest_client(alice).call(
        R.create_dialog(type=3, occupants_ids=[carol.id], base_url=alice.api_url)
    )
    a, b = cube_chat_client(alice), cube_chat_client(bob)
    missing = a.send_message(to_user=bob.id, body="lost?", dialog_id="5f0000000000000000000000")
    bounced = a.wait_for(MessageBounced, message_id=missing)
    assert bounced.error.condition_name == "item-not-found"
    wrong = a.send_message(to_user=bob.id, body="wrong dialog", dialog_id=theirs.id)
    assert a.wait_for(MessageBounced, message_id=wrong).error.condition_name == "forbidden"
    right = a.send_message(to_user=bob.id, body="right dialog", dialog_id=private.id)
    got = b.wait_for(MessageReceived, message_id=right)
    assert (got.body, got.dialog_id) == ("right dialog", private.id)
    assert not any(
        isinstance(e, MessageReceived) and e.message_id in (missing, wrong) for e in b.backlog
    )


def test_own_presence_and_other_devices_are_typed_events(
    cube_user: NewUser, cube_chat_client: Callable[..., LocalChatClient]
) -> None:
    """The presence every client sends after login comes back from the server, and the
    user's other devices come and go: those were ``UnhandledStanza``; they are
    ``PresenceReceived`` now, with ``echo`` and ``own`` telling which is which."""
    alice = cube_user()
    first = cube_chat_client(alice)
    echo = first.wait_for(PresenceReceived, echo=True)
    assert (echo.own, echo.available, echo.user_id) == (True, True, alice.id)
    second = cube_chat_client(alice)
    other = first.wait_for(PresenceReceived, echo=False, available=True)
    assert other.own and other.user_id == alice.id and other.resource != echo.resource
    second.disconnect()
    gone = first.wait_for(PresenceReceived, available=False)
    assert gone.own and gone.resource == other.resource
    assert not [e for e in first.backlog if isinstance(e, UnhandledStanza)]
