"""Every builder against the request written by hand from the official SDK's rules and
ConnectyCube's REST documentation (sessions, users, dialogs, messages, storage, custom
objects): method, URL, headers and body bytes."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cubeproto.errors import LocalProtocolError
from cubeproto.rest import requests as r
from cubeproto.rest.models import DialogType
from cubeproto.rest.request import RestRequest

TOK = "83153a14fb2df777c2f866178902a4bb15000001"
API = "https://api.connectycube.com"
D = "6507f0a1c2b3d4e5f6a7b8c9"
D2 = "6507f0a1c2b3d4e5f6a7b8ca"
M1 = "5c094687e588ce59fff87425"
M2 = "5c094682e588ce59fff87424"
JSON_CT = ("Content-Type", "application/json;charset=utf-8")
FORM_CT = ("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
AUTH = ("CB-Token", TOK)

# (id, builder thunk, method, url, headers, body)
CASES: list[
    tuple[str, Callable[[], RestRequest[Any]], str, str, tuple[tuple[str, str], ...], bytes]
] = [
    (
        "session-login",
        lambda: r.create_session(
            application_id=105,
            auth_key="AbCdEf123",
            user=r.LoginPassword(login="john", password="s3cret!"),
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"AbCdEf123","user":{"login":"john","password":"s3cret!"}}',
    ),
    (
        "session-app-only",
        lambda: r.create_session(application_id=105, auth_key="AbCdEf123"),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"AbCdEf123"}',
    ),
    (
        "session-email-with-old-token",
        lambda: r.create_session(
            application_id="105",
            auth_key="k",
            user=r.EmailPassword(email="j@x.io", password="p"),
            token=TOK,
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT, AUTH),
        b'{"application_id":"105","auth_key":"k","user":{"email":"j@x.io","password":"p"}}',
    ),
    (
        "session-guest",
        lambda: r.create_session(
            application_id=105, auth_key="k", user=r.GuestUser(full_name="Ann Guest")
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"k","user":{"guest":"1","full_name":"Ann Guest"}}',
    ),
    (
        "session-twitter",
        lambda: r.create_session(
            application_id=105,
            auth_key="k",
            user=r.SocialToken(provider="twitter", token="t", secret="s"),
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"k","provider":"twitter","keys":{"token":"t","secret":"s"}}',
    ),
    (
        "session-facebook",
        lambda: r.create_session(
            application_id=105, auth_key="k", user=r.SocialToken(provider="facebook", token="fb")
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"k","provider":"facebook","keys":{"token":"fb"}}',
    ),
    (
        "session-firebase",
        lambda: r.create_session(
            application_id=105,
            auth_key="k",
            user=r.FirebaseToken(provider="firebase_phone", project_id="p1", access_token="idtok"),
        ),
        "POST",
        f"{API}/session.json",
        (JSON_CT,),
        b'{"application_id":105,"auth_key":"k","provider":"firebase_phone",'
        b'"firebase_phone":{"project_id":"p1","access_token":"idtok"}}',
    ),
    (
        "session-get",
        lambda: r.get_session(token=TOK),
        "GET",
        f"{API}/session.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "session-destroy",
        lambda: r.destroy_session(token=TOK),
        "DELETE",
        f"{API}/session.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "login",
        lambda: r.login(r.LoginPassword(login="john", password="s3cret!"), token=TOK),
        "POST",
        f"{API}/login.json",
        (JSON_CT, AUTH),
        b'{"login":"john","password":"s3cret!"}',
    ),
    (
        "login-email",
        lambda: r.login(r.EmailPassword(email="a@b.c", password="pw"), token=TOK),
        "POST",
        f"{API}/login.json",
        (JSON_CT, AUTH),
        b'{"email":"a@b.c","password":"pw"}',
    ),
    ("logout", lambda: r.logout(token=TOK), "DELETE", f"{API}/login.json", (FORM_CT, AUTH), b""),
    (
        "sign-up-authkey",
        lambda: r.sign_up({"login": "ann", "password": "pw"}, auth_key="AbCdEf123"),
        "POST",
        f"{API}/users.json",
        (JSON_CT, ("CB-AuthKey", "AbCdEf123")),
        b'{"user":{"login":"ann","password":"pw"}}',
    ),
    (
        "dialog-create-group",
        lambda: r.create_dialog(
            type=DialogType.GROUP,
            name="Friday party",
            occupants_ids=[29085, 29086, 29087],
            token=TOK,
        ),
        "POST",
        f"{API}/chat/Dialog.json",
        (JSON_CT, AUTH),
        b'{"type":2,"name":"Friday party","occupants_ids":"29085, 29086, 29087"}',
    ),
    (
        "dialog-create-private",
        lambda: r.create_dialog(type=3, occupants_ids=[78], token=TOK),
        "POST",
        f"{API}/chat/Dialog.json",
        (JSON_CT, AUTH),
        b'{"type":3,"occupants_ids":"78"}',
    ),
    (
        "dialog-create-public-full",
        lambda: r.create_dialog(
            type=DialogType.PUBLIC,
            name="Crossfit",
            photo="gym.jpeg",
            description="daily",
            admins_ids=[45, 89],
            extensions={"location": "Sun bar"},
            permissions={"allow_preview": True},
            token=TOK,
        ),
        "POST",
        f"{API}/chat/Dialog.json",
        (JSON_CT, AUTH),
        b'{"type":4,"name":"Crossfit","admins_ids":"45, 89","photo":"gym.jpeg",'
        b'"description":"daily",'
        b'"extensions":{"location":"Sun bar"},"permissions":{"allow_preview":true}}',
    ),
    (
        "dialog-create-broadcast",
        lambda: r.create_dialog(type=1, name="News", token=TOK),
        "POST",
        f"{API}/chat/Dialog.json",
        (JSON_CT, AUTH),
        b'{"type":1,"name":"News"}',
    ),
    (
        "dialog-list-plain",
        lambda: r.list_dialogs(token=TOK),
        "GET",
        f"{API}/chat/Dialog.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-list-filters",
        lambda: r.list_dialogs(
            filters={"type": {"in": [10, 9, 2]}, "updated_at": {"gt": 1544111751}},
            limit=50,
            skip=100,
            sort_desc="last_message_date_sent",
            token=TOK,
        ),
        "GET",
        f"{API}/chat/Dialog.json?limit=50&skip=100&sort_desc=last_message_date_sent"
        "&type[in]=10%2C2%2C9&updated_at[gt]=1544111751",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-list-count-extension",
        lambda: r.list_dialogs(
            filters={"extensions": {"location": "Sun bar"}}, count=True, token=TOK
        ),
        "GET",
        f"{API}/chat/Dialog.json?count=1&extensions[location]=Sun%20bar",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-update",
        lambda: r.update_dialog(
            D,
            name="Crossfit2",
            photo="gym2.jpeg",
            description="...",
            push_all={
                "occupants_ids": [29088],
                "pinned_messages_ids": ["5c123fdce588ce064043f53a"],
            },
            pull_all={"admins_ids": [29087]},
            extensions={"location": "Sun bar"},
            permissions={"allow_preview": False},
            token=TOK,
        ),
        "PUT",
        f"{API}/chat/Dialog/{D}.json",
        (JSON_CT, AUTH),
        b'{"name":"Crossfit2","photo":"gym2.jpeg","description":"...",'
        b'"push_all":{"occupants_ids":[29088],"pinned_messages_ids":["5c123fdce588ce064043f53a"]},'
        b'"pull_all":{"admins_ids":[29087]},"extensions":{"location":"Sun bar"},'
        b'"permissions":{"allow_preview":false}}',
    ),
    (
        "dialog-update-clear-extensions",
        lambda: r.update_dialog(D, extensions=None, token=TOK),
        "PUT",
        f"{API}/chat/Dialog/{D}.json",
        (JSON_CT, AUTH),
        b'{"extensions":null}',
    ),
    (
        "dialog-delete-one",
        lambda: r.delete_dialogs(D, token=TOK),
        "DELETE",
        f"{API}/chat/Dialog/{D}.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-delete-many-force",
        lambda: r.delete_dialogs([D, D2], force=True, token=TOK),
        "DELETE",
        f"{API}/chat/Dialog/{D},{D2}.json",
        (FORM_CT, AUTH),
        b"force=1",
    ),
    (
        "dialog-clear-history",
        lambda: r.clear_history(D, token=TOK),
        "DELETE",
        f"{API}/chat/Dialog/clearHistory/{D}.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-clear-history-force",
        lambda: r.clear_history(D, force=True, token=TOK),
        "DELETE",
        f"{API}/chat/Dialog/clearHistory/{D}.json",
        (FORM_CT, AUTH),
        b"force=1",
    ),
    (
        "dialog-subscribe",
        lambda: r.subscribe_dialog(D, token=TOK),
        "POST",
        f"{API}/chat/Dialog/{D}/subscribe.json",
        (JSON_CT, AUTH),
        b"",
    ),
    (
        "dialog-unsubscribe",
        lambda: r.unsubscribe_dialog(D, token=TOK),
        "DELETE",
        f"{API}/chat/Dialog/{D}/subscribe.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-occupants",
        lambda: r.list_occupants(D, limit=100, skip=0, token=TOK),
        "GET",
        f"{API}/chat/Dialog/{D}/occupants.json?limit=100&skip=0",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "dialog-admins-add",
        lambda: r.add_admins(D, [45, 89], token=TOK),
        "PUT",
        f"{API}/chat/Dialog/{D}/admins.json",
        (JSON_CT, AUTH),
        b'{"push_all":{"admins_ids":[45,89]}}',
    ),
    (
        "dialog-admins-remove",
        lambda: r.remove_admins(D, [45, 89], token=TOK),
        "PUT",
        f"{API}/chat/Dialog/{D}/admins.json",
        (JSON_CT, AUTH),
        b'{"pull_all":{"admins_ids":[45,89]}}',
    ),
    (
        "dialog-notifications-set",
        lambda: r.set_notifications(D, False, token=TOK),
        "PUT",
        f"{API}/chat/Dialog/{D}/notifications.json",
        (JSON_CT, AUTH),
        b'{"enabled":0}',
    ),
    (
        "dialog-notifications-get",
        lambda: r.get_notifications(D, token=TOK),
        "GET",
        f"{API}/chat/Dialog/{D}/notifications.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "messages-list",
        lambda: r.list_messages("X", sort_desc="date_sent", limit=100, skip=0, token=TOK),
        "GET",
        f"{API}/chat/Message.json?chat_dialog_id=X&limit=100&skip=0&sort_desc=date_sent",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "messages-list-page-back",
        lambda: r.list_messages(
            D,
            filters={"date_sent": {"lt": 1544111751}},
            mark_as_read=False,
            preview=True,
            token=TOK,
        ),
        "GET",
        f"{API}/chat/Message.json?chat_dialog_id={D}&date_sent[lt]=1544111751&mark_as_read=0&preview=1",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "messages-list-operators",
        lambda: r.list_messages(
            D,
            filters={"sender_id": {"nin": [3, 1]}, "date_sent": {"gte": 1, "lte": 2.5}},
            sort_asc="date_sent",
            token=TOK,
        ),
        "GET",
        f"{API}/chat/Message.json?chat_dialog_id={D}&date_sent[gte]=1&date_sent[lte]=2.5"
        "&sender_id[nin]=1%2C3&sort_asc=date_sent",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "message-create",
        lambda: r.create_message(
            chat_dialog_id=D,
            message="hi",
            attachments=[{"type": "image", "id": "654645"}],
            extension={"customKey": "v"},
            send_to_chat=True,
            markable=True,
            token=TOK,
        ),
        "POST",
        f"{API}/chat/Message.json",
        (JSON_CT, AUTH),
        b'{"chat_dialog_id":"' + D.encode() + b'","message":"hi",'
        b'"attachments":{"0":{"type":"image","id":"654645"}},"send_to_chat":1,"markable":1,"customKey":"v"}',
    ),
    (
        "message-create-recipient",
        lambda: r.create_message(recipient_id=78, message="caf\u00e9 \U0001f525", token=TOK),
        "POST",
        f"{API}/chat/Message.json",
        (JSON_CT, AUTH),
        '{"recipient_id":78,"message":"caf\u00e9 \U0001f525"}'.encode(),
    ),
    (
        "message-update-read",
        lambda: r.update_messages([M1, M2], read=True, chat_dialog_id=D, token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1},{M2}.json",
        (JSON_CT, AUTH),
        b'{"read":1,"chat_dialog_id":"' + D.encode() + b'"}',
    ),
    (
        "message-update-delivered",
        lambda: r.update_messages(M1, delivered=True, token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1}.json",
        (JSON_CT, AUTH),
        b'{"delivered":1}',
    ),
    (
        "message-update-body",
        lambda: r.update_messages(M1, message="new body", chat_dialog_id=D, token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1}.json",
        (JSON_CT, AUTH),
        b'{"message":"new body","chat_dialog_id":"' + D.encode() + b'"}',
    ),
    (
        "message-mark-all-read",
        lambda: r.mark_all_read(D, token=TOK),
        "PUT",
        f"{API}/chat/Message.json",
        (JSON_CT, AUTH),
        b'{"read":1,"chat_dialog_id":"' + D.encode() + b'"}',
    ),
    (
        "message-delete-for-me",
        lambda: r.delete_messages([M1, M2], token=TOK),
        "DELETE",
        f"{API}/chat/Message/{M1},{M2}.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "message-delete-force",
        lambda: r.delete_messages(M1, force=True, token=TOK),
        "DELETE",
        f"{API}/chat/Message/{M1}.json",
        (FORM_CT, AUTH),
        b"force=1",
    ),
    (
        "message-system",
        lambda: r.send_system_message(29086, {"param1": "value1", "obj": {"a": 1}}, token=TOK),
        "POST",
        f"{API}/chat/Message/system.json",
        (JSON_CT, AUTH),
        b'{"recipientId":29086,"param1":"value1","obj":{"a":1}}',
    ),
    (
        "message-unread",
        lambda: r.unread_counts([D, D2], token=TOK),
        "GET",
        f"{API}/chat/Message/unread.json?chat_dialog_ids={D}%2C%20{D2}",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "message-unread-all",
        lambda: r.unread_counts(token=TOK),
        "GET",
        f"{API}/chat/Message/unread.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "reactions-add",
        lambda: r.update_reactions(M1, add="\U0001f525", token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1}/reactions.json",
        (JSON_CT, AUTH),
        '{"add":"\U0001f525"}'.encode(),
    ),
    (
        "reactions-remove",
        lambda: r.update_reactions(M1, remove="\U0001f44e", token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1}/reactions.json",
        (JSON_CT, AUTH),
        '{"remove":"\U0001f44e"}'.encode(),
    ),
    (
        "reactions-change",
        lambda: r.update_reactions(M1, add="\U0001f44d", remove="\U0001f44e", token=TOK),
        "PUT",
        f"{API}/chat/Message/{M1}/reactions.json",
        (JSON_CT, AUTH),
        '{"add":"\U0001f44d","remove":"\U0001f44e"}'.encode(),
    ),
    (
        "reactions-list",
        lambda: r.list_reactions(M1, token=TOK),
        "GET",
        f"{API}/chat/Message/{M1}/reactions.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "search",
        lambda: r.search(
            "party time",
            chat_dialog_ids=[D, D2],
            start_date=datetime(2016, 3, 23, 17, 0, 42, tzinfo=timezone.utc),
            end_date=1461430842000,
            limit=10,
            token=TOK,
        ),
        "GET",
        f"{API}/chat/search.json?chat_dialog_ids={D}%2C{D2}&end_date=2016-04-23T17%3A00%3A42.000Z"
        "&limit=10&search_text=party%20time&start_date=2016-03-23T17%3A00%3A42.000Z",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "blob-create",
        lambda: r.create_blob(name="cat.jpeg", content_type="image/jpeg", token=TOK),
        "POST",
        f"{API}/blobs.json",
        (JSON_CT, AUTH),
        b'{"blob":{"name":"cat.jpeg","content_type":"image/jpeg","public":false}}',
    ),
    (
        "blob-complete",
        lambda: r.complete_blob(46919, 11, token=TOK),
        "PUT",
        f"{API}/blobs/46919/complete.json",
        (JSON_CT, AUTH),
        b'{"size":11}',
    ),
    (
        "blob-info",
        lambda: r.get_blob(46919, token=TOK),
        "GET",
        f"{API}/blobs/46919.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "blob-object",
        lambda: r.get_blob_object("763ef825ad8748239ed07def2c14555100", token=TOK),
        "GET",
        f"{API}/blobs/763ef825ad8748239ed07def2c14555100/object.json?download_url=1",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "blob-delete",
        lambda: r.delete_blob(46919, token=TOK),
        "DELETE",
        f"{API}/blobs/46919.json",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "report-user",
        lambda: r.report_user(45, "User is spamming with bad words", token=TOK),
        "POST",
        f"{API}/data/UserReports.json",
        (JSON_CT, AUTH),
        b'{"reportedUserId":45,"reason":"User is spamming with bad words"}',
    ),
    (
        "report-message",
        lambda: r.report_message(M1, "spam", token=TOK),
        "POST",
        f"{API}/data/MessageReports.json",
        (JSON_CT, AUTH),
        b'{"reportedMessageId":"' + M1.encode() + b'","reason":"spam"}',
    ),
    (
        "custom-multi",
        lambda: r.create_custom_objects(
            "UserReports", [{"reportedUserId": 1}, {"reportedUserId": 2}], token=TOK
        ),
        "POST",
        f"{API}/data/UserReports/multi.json",
        (JSON_CT, AUTH),
        b'{"record":{"1":{"reportedUserId":1},"2":{"reportedUserId":2}}}',
    ),
    (
        "custom-list",
        lambda: r.list_custom_objects(
            "UserReports", filters={"reportedUserId": 45}, limit=10, token=TOK
        ),
        "GET",
        f"{API}/data/UserReports.json?limit=10&reportedUserId=45",
        (FORM_CT, AUTH),
        b"",
    ),
    (
        "custom-list-plain",
        lambda: r.list_custom_objects("MessageReports", token=TOK),
        "GET",
        f"{API}/data/MessageReports.json",
        (FORM_CT, AUTH),
        b"",
    ),
]


@pytest.mark.parametrize(
    ("builder", "method", "url", "headers", "body"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_request_matches_reference(
    builder: Callable[[], RestRequest[Any]],
    method: str,
    url: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
) -> None:
    req = builder()
    assert req.method == method
    assert req.url == url
    assert req.headers == headers
    assert req.body == body


def test_signed_session_matches_hand_computed_hmac() -> None:
    req = r.create_session_signed(
        application_id=105,
        auth_key="AbCdEf123",
        auth_secret="Secret-XYZ",
        nonce=4821,
        timestamp=1700000000,
        user=r.LoginPassword(login="john", password="s3cret!"),
    )
    text = (
        b"application_id=105&auth_key=AbCdEf123&nonce=4821&timestamp=1700000000"
        b"&user[login]=john&user[password]=s3cret!"
    )
    sig = hmac.new(b"Secret-XYZ", text, hashlib.sha1).hexdigest()
    assert req.url == f"{API}/session.json"
    assert req.headers == (JSON_CT,)
    assert req.body == (
        b'{"application_id":105,"auth_key":"AbCdEf123","nonce":4821,"timestamp":1700000000,'
        b'"user":{"login":"john","password":"s3cret!"},"signature":"' + sig.encode() + b'"}'
    )


def test_signature_base_string_groups_nested_objects() -> None:
    from cubeproto.rest.signing import signature_base_string

    text = signature_base_string(
        {
            "timestamp": 5,
            "provider": "twitter",
            "keys": {"token": "t", "secret": "s"},
            "application_id": 1,
            "signature": "x",
        }
    )
    assert text == "application_id=1&keys[secret]=s&keys[token]=t&provider=twitter&timestamp=5"


def test_blob_urls() -> None:
    uid = "763ef825ad8748239ed07def2c14555100"
    assert r.blob_private_url(uid, TOK) == f"{API}/blobs/{uid}?token={TOK}"
    assert r.blob_public_url(uid) == f"{API}/blobs/{uid}"
    assert (
        r.blob_public_url(uid, base_url="http://127.0.0.1:8080/")
        == f"http://127.0.0.1:8080/blobs/{uid}"
    )


def test_base_url_is_configurable() -> None:
    req = r.list_reactions(M1, token=TOK, base_url="http://localhost:9000/api/")
    assert req.url == f"http://localhost:9000/api/chat/Message/{M1}/reactions.json"
    assert req.with_base_url(API).url == f"{API}/chat/Message/{M1}/reactions.json"


def test_with_token_replaces_auth_headers() -> None:
    req = r.sign_up({"login": "a"}, auth_key="AK")
    stamped = req.with_token("T2")
    assert stamped.headers == (JSON_CT, ("CB-Token", "T2"))
    assert stamped.with_token("T3").headers == (JSON_CT, ("CB-Token", "T3"))
    assert stamped.with_token(None).headers == (JSON_CT,)
    assert req.headers == (JSON_CT, ("CB-AuthKey", "AK"))  # the original is unchanged


@pytest.mark.parametrize(
    "bad",
    [
        lambda: r.create_dialog(type=2, name="x"),  # group without occupants
        lambda: r.create_dialog(type=3, occupants_ids=[1, 2]),  # private with two peers
        lambda: r.create_dialog(type=4),  # public without name
        lambda: r.create_dialog(type=9, name="x"),
        lambda: r.create_dialog(type=2, name="x", occupants_ids=[True]),
        lambda: r.update_dialog(D),
        lambda: r.update_dialog(D, push_all={"members": [1]}),
        lambda: r.update_dialog("../etc", name="x"),
        lambda: r.delete_dialogs([]),
        lambda: r.delete_messages("a/b"),
        lambda: r.delete_messages("a b"),
        lambda: r.update_messages(M1),
        lambda: r.update_reactions(M1),
        lambda: r.create_message(message="orphan"),
        lambda: r.create_message(chat_dialog_id=D, recipient_id=3),
        lambda: r.search("text", start_date=datetime(2020, 1, 1, tzinfo=timezone.utc)),
        lambda: r.search("text", start_date=datetime(2020, 1, 1), end_date=datetime(2020, 2, 1)),
        lambda: r.list_messages(D, sort_asc="a", sort_desc="b"),
        lambda: r.list_messages(D, limit=-1),
        lambda: r.list_dialogs(filters={"limit": 5}, limit=5),
        lambda: r.create_blob(name="", content_type="image/png"),
        lambda: r.create_message(chat_dialog_id=D, extension={"x": float("nan")}),
        lambda: r.create_message(chat_dialog_id=D, extension={"x": 2**60}),
        lambda: r.create_message(chat_dialog_id=D, message="\ud800"),
        lambda: r.get_session(token="bad\r\ntoken"),
        lambda: r.get_session(base_url="ftp://x"),
        lambda: r.get_session(base_url="https://x/?q=1"),
        lambda: r.set_notifications(D, 1),  # type: ignore[arg-type]
        lambda: r.SocialToken(provider="myspace", token="x"),  # type: ignore[arg-type]
        lambda: r.send_system_message(-1),
    ],
)
def test_caller_mistakes_are_local_protocol_errors(bad: Callable[[], object]) -> None:
    with pytest.raises(LocalProtocolError):
        bad()


def test_search_dates_keep_milliseconds() -> None:
    start = datetime(2016, 3, 23, 17, 0, 42, 123456, tzinfo=timezone(timedelta(hours=2)))
    req = r.search("abcde", start_date=start, end_date=1458752442999)
    assert "start_date=2016-03-23T15%3A00%3A42.123Z" in req.url
    assert "end_date=2016-03-23T17%3A00%3A42.999Z" in req.url
