"""cubeproto.diagnostics: the wire trace never shows a credential, whatever the cut of the
stream, and events read as one sentence."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from cubeproto.diagnostics import (
    MAX_NAME,
    REDACTED,
    SECRET_ELEMENTS,
    WireRedactor,
    describe,
    redact_headers,
    redact_json_text,
    redact_url,
)
from cubeproto.events import (
    AuthenticationFailed,
    CloseReason,
    ConnectionClosed,
    MessageUnconfirmed,
    StreamErrorCondition,
)
from cubeproto.reconnect import Disconnected

PLAIN_AUTH = (
    b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
    b"ADEwMDEANWY3YmE4ZjEtc2VjcmV0LXRva2Vu</auth>"
)


def trace(pieces: list[bytes]) -> str:
    redactor = WireRedactor()
    return "".join(redactor.feed(piece) for piece in pieces) + redactor.flush()


def cut(data: bytes, points: list[int]) -> list[bytes]:
    marks = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in zip([0, *marks], [*marks, len(data)], strict=True)]


# ----------------------------------------------------------------- generated streams

names = st.sampled_from(sorted(SECRET_ELEMENTS))
prefixes = st.sampled_from(["", "sasl:", "x:"])
#: Every secret carries this mark, which nothing else in a generated stream contains.
MARK = "\N{KEY}"
#: Secrets: arbitrary text that XML content may hold (no "<"), marked.
secrets = st.text(
    alphabet=st.characters(blacklist_characters="<&" + MARK, blacklist_categories=("Cs",)),
    max_size=40,
).map(lambda s: MARK + s)
plain_text = st.text(
    alphabet=st.characters(blacklist_characters="<>&" + MARK, blacklist_categories=("Cs",)),
    max_size=20,
)


@st.composite
def secret_element(draw: st.DrawFn) -> tuple[str, str]:
    """A credential element and its secret."""
    prefix, name, secret = draw(prefixes), draw(names), draw(secrets)
    attrs = draw(
        st.sampled_from(["", " xmlns='urn:ietf:params:xml:ns:xmpp-sasl'", " a='1' b=\"/\""])
    )
    space = draw(st.sampled_from(["", " ", "\n  "]))
    return f"<{prefix}{name}{attrs}>{secret}</{prefix}{name}{space}>", secret


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A stream mixing ordinary stanzas, self-closing credential elements and credential
    elements with secret content; returns the text and its secrets."""
    parts: list[str] = []
    hidden: list[str] = []
    for kind in draw(
        st.lists(st.sampled_from(["plain", "secret", "empty", "lookalike"]), max_size=8)
    ):
        if kind == "plain":
            parts.append(f"<message to='a@b'><body>{draw(plain_text)}</body></message>")
        elif kind == "secret":
            element, secret = draw(secret_element())
            parts.append(element)
            hidden.append(secret)
        elif kind == "empty":
            parts.append(f"<{draw(names)} xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        else:  # names that start like a credential element's but are not one
            parts.append(f"<authx>{draw(plain_text)}</authx><tokens/>")
    return "".join(parts), hidden


def model(text: str) -> str:
    """The expected trace of a whole, well-formed stream, by regular expression."""
    pattern = re.compile(
        r"(<((?:[\w.-]+:)?(?:" + "|".join(sorted(SECRET_ELEMENTS)) + r"))(?=[\s/>])[^>]*(?<!/)>)"
        r"(.*?)(</\2\s*>)",
        re.DOTALL,
    )
    return pattern.sub(lambda m: m.group(1) + (REDACTED if m.group(3) else "") + m.group(4), text)


@given(streams(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
@example(("<auth>\N{KEY}secret</auth>", ["\N{KEY}secret"]), [3, 4, 14, 15, 16])
def test_trace_is_the_model_whatever_the_cut(
    stream: tuple[str, list[str]], points: list[int]
) -> None:
    """Chunking invariance plus exactness: any cut gives the model's trace, in which no
    secret appears and everything else is shown unchanged."""
    text, hidden = stream
    data = text.encode()
    whole = trace([data])
    assert whole == model(text)
    assert trace(cut(data, points)) == whole
    assert MARK not in whole
    assert whole.count(REDACTED) == len(hidden)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=10))
@example(b"<auth>\xf0\x9f\x98\x80</a", [7, 8])
@example(b"<" + b"p" * (MAX_NAME + 5) + b":auth>x</auth>", [3])
def test_any_bytes_any_cut_same_trace(data: bytes, points: list[int]) -> None:
    """Hostile or broken input: never an exception, and the cut never changes the trace."""
    assert trace(cut(data, points)) == trace([data])


def test_plain_sasl_auth_split_in_every_place() -> None:
    """The PLAIN payload (user id and token) never shows, wherever a TCP read ends."""
    secret = "ADEwMDEANWY3YmE4ZjEtc2VjcmV0LXRva2Vu"
    expected = PLAIN_AUTH.decode().replace(secret, REDACTED)
    for point in range(len(PLAIN_AUTH) + 1):
        assert trace([PLAIN_AUTH[:point], PLAIN_AUTH[point:]]) == expected
    # a SCRAM exchange: every step hidden, the stanza after it shown
    scram = (
        b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtvK2Q=</challenge>"
        b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdzLHI9=</response>"
        b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5cHE=</success>"
        b"<iq type='set' id='b1'/>"
    )
    shown = trace([scram])
    assert "cj1meWtvK2Q=" not in shown and "Yz1iaXdzLHI9=" not in shown
    assert "dj1ybUY5cHE=" not in shown and shown.count(REDACTED) == 3
    assert shown.endswith("<iq type='set' id='b1'/>")


def test_a_stream_cut_inside_a_secret_hides_the_tail() -> None:
    assert trace([b"<password>hunter2"]) == "<password>" + REDACTED
    assert trace([b"<token>abc</tok"]) == "<token>" + REDACTED


def test_rest_redaction() -> None:
    headers = redact_headers(
        [("CB-Token", "abc"), ("Content-Type", "application/json"), ("authorization", "Bearer x")]
    )
    assert headers == [
        ("CB-Token", REDACTED),
        ("Content-Type", "application/json"),
        ("authorization", REDACTED),
    ]
    body = (
        '{"user": {"login": "alice", "password": "p\\"w"}, '
        '"signature": "9f", "nonce": 12, "auth_key": 77}'
    )
    shown = redact_json_text(body)
    assert 'p\\"w' not in shown and "9f" not in shown and "77" not in shown
    assert '"login": "alice"' in shown and '"nonce": 12' in shown
    assert (
        redact_json_text('{"session": {"token": "T0k"}}') == '{"session": {"token": "[redacted]"}}'
    )
    url = "https://s3.example/b/k?X-Amz-Signature=abc&X-Amz-Date=20261205&token=t1#f"
    assert (
        redact_url(url)
        == "https://s3.example/b/k?X-Amz-Signature=[redacted]&X-Amz-Date=20261205&token=[redacted]#f"
    )


def test_sentences() -> None:
    tls = ConnectionClosed(
        reason=CloseReason.NEGOTIATION_FAILED,
        text="TLS handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
    )
    assert describe(tls) == (
        "negotiation with the server failed: TLS handshake failed: "
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    error = ConnectionClosed(
        reason=CloseReason.STREAM_ERROR_RECEIVED,
        condition=StreamErrorCondition.POLICY_VIOLATION,
        text="too big",
        resumable=True,
    )
    assert describe(error) == (
        "the server ended the stream with the error policy-violation: too big "
        "(the session can be resumed)"
    )
    refused = AuthenticationFailed(condition=None, condition_name="not-authorized", text=None)
    assert "not accepted" in describe(refused)
    lost = Disconnected(
        closed=None,
        error="[Errno 111] Connection refused",
        reconnect_in=1.5,
        attempt=2,
        resumable=False,
    )
    assert describe(lost) == (
        "could not connect: [Errno 111] Connection refused; "
        "reconnecting in 1.5 s (with a fresh session, attempt 2)"
    )
    assert describe(MessageUnconfirmed(message_id="m1")).startswith("message m1: unknown whether")
    assert "\n" not in describe(tls)
