"""The holes of issue 11, as inputs shared by the client-role, server-role and WebSocket
tests: each is what arrives after a logged-in stream's header, and the RFC 6120 stream
error condition it must end in.

Every case ended in no error at all before the fix: a nested stream header or an unclosed
unknown element swallowed every later stanza (they became its children) until the
512 KiB stanza limit, undeclared prefixes were accepted, and a stanza of 20,000 elements
was accepted (and detached in quadratic time).
"""

from __future__ import annotations

from cubeproto import StreamErrorCondition

C = StreamErrorCondition
NESTED_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" version='1.0'>"
)
#: A stanza that follows each case: before the fix it vanished into the case's element.
FOLLOWER = b"<message type='chat' id='after'><body>still here?</body></message>"

#: name -> (bytes, condition).  Each case is complete or opens an element that never
#: closes: the stream must end at its start tag, not 512 KiB later.
CASES: dict[str, tuple[bytes, StreamErrorCondition]] = {
    "nested-stream-header": (NESTED_HEADER, C.BAD_FORMAT),
    "unclosed-pubsub-in-jabber-client": (
        b"<pubsub xmlns='jabber:client'><publish node='x'>",
        C.UNSUPPORTED_STANZA_TYPE,
    ),
    "stream-namespace-non-features": (
        b"<stream:foo xmlns:stream='http://etherx.jabber.org/streams'>",
        C.UNSUPPORTED_STANZA_TYPE,
    ),
    "undeclared-prefix-on-the-stanza": (
        b"<foo:message type='chat' to='a@b'><body>x</body></foo:message>",
        C.BAD_NAMESPACE_PREFIX,
    ),
    "undeclared-prefix-on-a-child": (
        b"<message type='chat' id='m1'><foo:body>x</foo:body></message>",
        C.BAD_NAMESPACE_PREFIX,
    ),
    "undeclared-prefix-on-an-attribute": (
        b"<message type='chat' id='m1' foo:x='1'><body>x</body></message>",
        C.BAD_NAMESPACE_PREFIX,
    ),
    "20000-elements": (
        b"<message type='chat' id='m1'>" + b"<a/>" * 20_000 + b"</message>",
        C.POLICY_VIOLATION,
    ),
}
