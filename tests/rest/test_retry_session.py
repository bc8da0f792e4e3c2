"""The pure retry policy, the session object's lifecycle, and the multipart upload plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto.errors import LocalProtocolError
from cubeproto.rest import requests as r
from cubeproto.rest.errors import ApiError, SessionExpired
from cubeproto.rest.models import Blob, BlobObjectAccess
from cubeproto.rest.retry import RetryPolicy, parse_http_date, parse_retry_after
from cubeproto.rest.session import Credentials, Done, RestSession, Send, Wait
from cubeproto.rest.upload import prepare_blob_upload

EXPIRED = json.dumps({"errors": {"base": ["Required session does not exist"]}}).encode()


def session_body(token: str, user_id: int = 81) -> bytes:
    return json.dumps({"session": {"id": 1, "token": token, "user_id": user_id}}).encode()


def fixed(value: float) -> Any:
    return lambda: value


# -- retry ----------------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = 784111777.0
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now=now) == 10.0
    assert parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now=now) == 10.0
    assert parse_retry_after("Sun Nov  6 08:49:47 1994", now=now) == 10.0
    assert parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now=now) == 0.0  # in the past
    for junk in (
        "soon",
        "-5",
        "1.5",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:47 PST",
        "",
    ):
        assert parse_retry_after(junk, now=now) is None
    assert parse_retry_after(None, now=now) is None


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_http_date_agrees_with_the_stdlib_formatter(moment: datetime) -> None:
    aware = moment.replace(microsecond=0, tzinfo=timezone.utc)
    assert parse_http_date(format_datetime(aware, usegmt=True)) == aware.timestamp()


@pytest.mark.parametrize(
    ("status", "idempotent", "retried"),
    [
        (429, False, True),
        (503, False, True),
        (500, True, True),
        (502, True, True),
        (504, True, True),
        (500, False, False),
        (400, True, False),
        (401, True, False),
        (404, True, False),
        (422, True, False),
        (200, True, False),
        (301, True, False),
    ],
)
def test_which_statuses_retry(status: int, idempotent: bool, retried: bool) -> None:
    policy = RetryPolicy()
    delay = policy.decide(
        status=status, headers={}, idempotent=idempotent, attempt=1, now=0, random=fixed(0.0)
    )
    assert (delay is not None) is retried


def test_backoff_grows_is_capped_and_jittered() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5)
    delays = [
        policy.decide(status=503, headers={}, idempotent=True, attempt=a, now=0, random=fixed(0.0))
        for a in range(1, 6)
    ]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.backoff(2, fixed(0.999)) == pytest.approx(2.0 * (1 - 0.5 * 0.999))
    assert (
        policy.decide(status=503, headers={}, idempotent=True, attempt=10, now=0, random=fixed(0.0))
        is None
    )


def test_retry_after_wins_and_too_long_gives_up() -> None:
    policy = RetryPolicy(max_retry_after=60)
    assert (
        policy.decide(
            status=429,
            headers=[(b"Retry-After", b"7")],
            idempotent=False,
            attempt=1,
            now=0,
            random=fixed(0.3),
        )
        == 7.0
    )
    assert (
        policy.decide(
            status=429,
            headers={"retry-after": "61"},
            idempotent=False,
            attempt=1,
            now=0,
            random=fixed(0.3),
        )
        is None
    )


def test_bad_policy_and_bad_random_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        RetryPolicy(jitter=2)
    with pytest.raises(LocalProtocolError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(LocalProtocolError):
        RetryPolicy().backoff(1, fixed(1.0))


@given(st.integers(1, 50), st.floats(0, 0.999999))
def test_delay_always_within_bounds(attempt: int, rnd: float) -> None:
    policy = RetryPolicy(max_attempts=100)
    d = policy.decide(
        status=503, headers={}, idempotent=True, attempt=attempt, now=0, random=fixed(rnd)
    )
    assert d is not None and 0 <= d <= policy.max_delay


# -- session --------------------------------------------------------------------------------

CREDS = Credentials(
    application_id=105, auth_key="AbCdEf123", user=r.LoginPassword(login="john", password="pw")
)


def drive(
    session: RestSession, request: Any, responses: Iterator[tuple[int, bytes]]
) -> tuple[Any, list[Any]]:
    ex = session.exchange(request)
    step: Any = ex.start()
    steps: list[Any] = [step]
    while not isinstance(step, Done):
        status, body = next(responses)
        step = ex.receive(status, [], body, now=0.0)
        steps.append(step)
    return step.value, steps


def test_first_call_creates_the_session_and_stamps_the_token() -> None:
    s = RestSession(credentials=CREDS)
    with pytest.raises(LocalProtocolError):
        s.chat_password()
    value, steps = drive(
        s,
        r.get_notifications("d1"),
        iter([(201, session_body("T1")), (200, b'{"notifications":{"enabled":1}}')]),
    )
    assert value.enabled is True
    assert steps[0].request.url == "https://api.connectycube.com/session.json"
    assert (
        steps[0].request.body
        == b'{"application_id":105,"auth_key":"AbCdEf123","user":{"login":"john","password":"pw"}}'
    )
    assert steps[1].request.header("CB-Token") == "T1"
    assert s.chat_password() == "T1" and s.user_id == 81 and s.sessions_created == 1


def test_expiry_renews_exactly_once_and_replays() -> None:
    s = RestSession(credentials=CREDS, base_url="http://127.0.0.1:1")
    s.adopt(r.parse_session(200, [], session_body("OLD")))
    value, steps = drive(
        s,
        r.list_reactions("m1"),
        iter([(401, EXPIRED), (201, session_body("NEW")), (200, b'{"x":[1]}')]),
    )
    assert value.by_emoji == {"x": (1,)}
    assert [type(x).__name__ for x in steps] == ["Send", "Send", "Send", "Done"]
    assert steps[0].request.header("CB-Token") == "OLD"
    assert (
        steps[1].request.header("CB-Token") is None
        and steps[1].request.url == "http://127.0.0.1:1/session.json"
    )
    assert steps[2].request.header("CB-Token") == "NEW"
    assert s.chat_password() == "NEW"


def test_second_expiry_is_raised() -> None:
    s = RestSession(credentials=CREDS)
    s.adopt(r.parse_session(200, [], session_body("OLD")))
    with pytest.raises(SessionExpired):
        drive(
            s,
            r.list_reactions("m1"),
            iter([(401, EXPIRED), (201, session_body("NEW")), (401, EXPIRED)]),
        )


def test_expiry_when_another_exchange_already_renewed() -> None:
    s = RestSession(credentials=CREDS)
    s.adopt(r.parse_session(200, [], session_body("OLD")))
    ex = s.exchange(r.list_reactions("m1"))
    first = ex.start()
    s.adopt(r.parse_session(200, [], session_body("FRESH")))  # renewed elsewhere meanwhile
    step = ex.receive(401, [], EXPIRED, now=0)
    assert isinstance(step, Send) and step.request.header("CB-Token") == "FRESH"
    assert first.request.header("CB-Token") == "OLD" and s.sessions_created == 0


def test_session_url_expiry_is_not_renewed_and_destroy_forgets() -> None:
    s = RestSession(credentials=CREDS)
    s.adopt(r.parse_session(200, [], session_body("OLD")))
    with pytest.raises(SessionExpired):
        drive(s, r.get_session(), iter([(401, EXPIRED)]))
    drive(s, r.destroy_session(), iter([(200, b"")]))
    assert s.token is None


def test_retry_waits_then_resends_and_api_errors_are_final() -> None:
    s = RestSession(
        credentials=CREDS, retry=RetryPolicy(base_delay=1.0, jitter=0.0), random=fixed(0.5)
    )
    s.adopt(r.parse_session(200, [], session_body("T")))
    value, steps = drive(
        s, r.unread_counts(), iter([(503, b""), (500, b""), (200, b'{"total":0}')])
    )
    assert value.total == 0
    assert [type(x) for x in steps] == [Send, Wait, Wait, Done]
    assert [x.seconds for x in steps if isinstance(x, Wait)] == [1.0, 2.0]
    with pytest.raises(ApiError) as info:
        drive(
            s, r.create_message(chat_dialog_id="d", message="x"), iter([(500, b"")])
        )  # POST: no retry
    assert info.value.status == 500
    with pytest.raises(ApiError):
        drive(s, r.unread_counts(), iter([(404, b'{"errors":["nope"]}')]))


def test_failed_session_creation_is_raised() -> None:
    s = RestSession(credentials=CREDS)
    with pytest.raises(ApiError) as info:
        drive(s, r.unread_counts(), iter([(422, b'{"errors":{"base":["Unauthorized"]}}')]))
    assert info.value.messages == ("Unauthorized",)


def test_exchange_misuse() -> None:
    s = RestSession(credentials=CREDS)
    ex = s.exchange(r.unread_counts())
    with pytest.raises(LocalProtocolError):
        ex.receive(200, [], b"", now=0)
    ex.start()
    with pytest.raises(LocalProtocolError):
        ex.start()
    with pytest.raises(LocalProtocolError):
        RestSession(credentials=CREDS, retry=RetryPolicy())


# -- upload plan ----------------------------------------------------------------------------


def test_multipart_upload_plan() -> None:
    params = "https://s3.amazonaws.com/cb-shared-s3?Content-Type=image%2Fjpeg&acl=public-read&key=ab%20c&success_action_status=201"
    blob = Blob(id=1, blob_object_access=BlobObjectAccess(params=params))
    up = prepare_blob_upload(
        blob, file_name="cat.jpeg", content_type="image/jpeg", size=11, boundary="XyZ123"
    )
    assert up.url == "https://s3.amazonaws.com/cb-shared-s3"
    assert up.headers == (("Content-Type", "multipart/form-data; boundary=XyZ123"),)
    assert up.head == (
        b'--XyZ123\r\nContent-Disposition: form-data; name="Content-Type"\r\n\r\nimage/jpeg\r\n'
        b'--XyZ123\r\nContent-Disposition: form-data; name="acl"\r\n\r\npublic-read\r\n'
        b'--XyZ123\r\nContent-Disposition: form-data; name="key"\r\n\r\nab c\r\n'
        b'--XyZ123\r\nContent-Disposition: form-data; name="success_action_status"\r\n\r\n201\r\n'
        b'--XyZ123\r\nContent-Disposition: form-data; name="file"; filename="cat.jpeg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    assert up.tail == b"\r\n--XyZ123--\r\n"
    assert up.content_length == len(up.head) + 11 + len(up.tail)
    with pytest.raises(ApiError):
        up.parse(403, [], b"<Error/>")
    for bad in (
        lambda: prepare_blob_upload(
            Blob(id=1), file_name="a", content_type="x/y", size=1, boundary="b"
        ),
        lambda: prepare_blob_upload(
            params, file_name="a\r\n", content_type="x/y", size=1, boundary="b"
        ),
        lambda: prepare_blob_upload(
            params, file_name="a", content_type="x/y\r\n", size=1, boundary="b"
        ),
        lambda: prepare_blob_upload(
            params, file_name="a", content_type="x/y", size=1, boundary="bad boundary!"
        ),
        lambda: prepare_blob_upload(
            "ftp://x", file_name="a", content_type="x/y", size=1, boundary="b"
        ),
    ):
        with pytest.raises(LocalProtocolError):
            bad()
