"""The error vocabulary shared by every part of cubeproto.

Two exception classes sit at the top, as in h11 and wsproto:

* :class:`LocalProtocolError` -- *our caller* misused the API (a command in the wrong
  state, a value that cannot go on the wire).  It is raised synchronously and the object
  that raised it is left exactly as it was before the call.
* :class:`RemoteProtocolError` -- *the peer* broke the protocol.  The core never raises it
  out of ``receive_data``; it is carried inside a terminal event so that the adapter can
  log it, and it names the RFC 6120 stream error condition that was sent to the peer.

The condition enums use the wire names as values, so ``StreamErrorCondition("reset")``
parses what arrives and ``condition.value`` is what we write.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "NS_STANZAS",
    "NS_STREAMS",
    "CubeProtoError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "SaslCondition",
    "StanzaError",
    "StanzaErrorCondition",
    "StanzaErrorType",
    "StreamErrorCondition",
]

NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class StreamErrorCondition(str, enum.Enum):
    """Defined stream error conditions, RFC 6120 section 4.9.3."""

    BAD_FORMAT = "bad-format"
    BAD_NAMESPACE_PREFIX = "bad-namespace-prefix"
    CONFLICT = "conflict"
    CONNECTION_TIMEOUT = "connection-timeout"
    HOST_GONE = "host-gone"
    HOST_UNKNOWN = "host-unknown"
    IMPROPER_ADDRESSING = "improper-addressing"
    INTERNAL_SERVER_ERROR = "internal-server-error"
    INVALID_FROM = "invalid-from"
    INVALID_NAMESPACE = "invalid-namespace"
    INVALID_XML = "invalid-xml"
    NOT_AUTHORIZED = "not-authorized"
    NOT_WELL_FORMED = "not-well-formed"
    POLICY_VIOLATION = "policy-violation"
    REMOTE_CONNECTION_FAILED = "remote-connection-failed"
    RESET = "reset"
    RESOURCE_CONSTRAINT = "resource-constraint"
    RESTRICTED_XML = "restricted-xml"
    SEE_OTHER_HOST = "see-other-host"
    SYSTEM_SHUTDOWN = "system-shutdown"
    UNDEFINED_CONDITION = "undefined-condition"
    UNSUPPORTED_ENCODING = "unsupported-encoding"
    UNSUPPORTED_FEATURE = "unsupported-feature"
    UNSUPPORTED_STANZA_TYPE = "unsupported-stanza-type"
    UNSUPPORTED_VERSION = "unsupported-version"


class StanzaErrorCondition(str, enum.Enum):
    """Defined stanza error conditions, RFC 6120 section 8.3.3."""

    BAD_REQUEST = "bad-request"
    CONFLICT = "conflict"
    FEATURE_NOT_IMPLEMENTED = "feature-not-implemented"
    FORBIDDEN = "forbidden"
    GONE = "gone"
    INTERNAL_SERVER_ERROR = "internal-server-error"
    ITEM_NOT_FOUND = "item-not-found"
    JID_MALFORMED = "jid-malformed"
    NOT_ACCEPTABLE = "not-acceptable"
    NOT_ALLOWED = "not-allowed"
    NOT_AUTHORIZED = "not-authorized"
    POLICY_VIOLATION = "policy-violation"
    RECIPIENT_UNAVAILABLE = "recipient-unavailable"
    REDIRECT = "redirect"
    REGISTRATION_REQUIRED = "registration-required"
    REMOTE_SERVER_NOT_FOUND = "remote-server-not-found"
    REMOTE_SERVER_TIMEOUT = "remote-server-timeout"
    RESOURCE_CONSTRAINT = "resource-constraint"
    SERVICE_UNAVAILABLE = "service-unavailable"
    SUBSCRIPTION_REQUIRED = "subscription-required"
    UNDEFINED_CONDITION = "undefined-condition"
    UNEXPECTED_REQUEST = "unexpected-request"


class StanzaErrorType(str, enum.Enum):
    """The ``type`` attribute of a stanza ``<error/>``, RFC 6120 section 8.3.2."""

    AUTH = "auth"
    CANCEL = "cancel"
    CONTINUE = "continue"
    MODIFY = "modify"
    WAIT = "wait"


class SaslCondition(str, enum.Enum):
    """SASL failure conditions, RFC 6120 section 6.5."""

    ABORTED = "aborted"
    ACCOUNT_DISABLED = "account-disabled"
    CREDENTIALS_EXPIRED = "credentials-expired"
    ENCRYPTION_REQUIRED = "encryption-required"
    INCORRECT_ENCODING = "incorrect-encoding"
    INVALID_AUTHZID = "invalid-authzid"
    INVALID_MECHANISM = "invalid-mechanism"
    MALFORMED_REQUEST = "malformed-request"
    MECHANISM_TOO_WEAK = "mechanism-too-weak"
    NOT_AUTHORIZED = "not-authorized"
    TEMPORARY_AUTH_FAILURE = "temporary-auth-failure"


@dataclass(frozen=True, slots=True, kw_only=True)
class StanzaError:
    """A stanza-level error as the peer reported it (a value, not an exception).

    ``condition`` is ``None`` when the peer used a condition RFC 6120 does not define;
    ``condition_name`` always holds the element name that arrived.  ``code`` is the
    legacy numeric ``code`` attribute (the official SDK reports only that one).
    """

    condition: StanzaErrorCondition | None
    condition_name: str
    type: StanzaErrorType | None
    text: str | None = None
    code: int | None = None


class CubeProtoError(Exception):
    """Base class of every exception cubeproto defines."""


class LocalProtocolError(CubeProtoError):
    """The caller asked for something the protocol or the current state does not allow.

    Raised synchronously by commands; the object that raised it has not changed state.
    """


class RemoteProtocolError(CubeProtoError):
    """The peer violated the protocol.

    Never raised from ``receive_data``; it travels inside the terminal event.
    ``condition`` is the stream error condition that was (or would have been) sent.
    """

    def __init__(self, condition: StreamErrorCondition, text: str = "") -> None:
        super().__init__(f"{condition.value}: {text}" if text else condition.value)
        self.condition = condition
        self.text = text
