"""cubeproto: a sans-IO implementation of the ConnectyCube chat protocol.

The core (everything importable from ``cubeproto`` except ``cubeproto.transports``) never
performs I/O and never reads a clock: bytes, commands and the current time go in; bytes and
typed events come out.  See README.md for the connection contract.
"""

from __future__ import annotations

from ._checkpoint import Checkpoint, CheckpointError
from ._connection import ClientConnection, ResumableSession
from ._state import StreamState
from ._version import __version__
from .commands import (
    Command,
    OutboundStanza,
    Ping,
    SendIq,
    StanzaCommand,
    StanzaContext,
)
from .config import ClientConfig, Transport
from .errors import (
    CubeProtoError,
    LocalProtocolError,
    RemoteProtocolError,
    SaslCondition,
    StanzaError,
    StanzaErrorCondition,
    StanzaErrorType,
    StreamErrorCondition,
)
from .events import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CheckpointChanged,
    CloseReason,
    Connected,
    ConnectionClosed,
    ConnectionDead,
    Event,
    IqFailed,
    IqResultReceived,
    IqTimedOut,
    LostReason,
    MalformedStanza,
    MessageLost,
    MessageRejected,
    MessageSent,
    MessageUnconfirmed,
    PingReceived,
    PingTimedOut,
    PongReceived,
    ResumeFailed,
    StreamManagementEnabled,
    StreamOpened,
    StreamResumed,
    TlsUpgradeRequired,
    UnhandledStanza,
)
from .reconnect import Disconnected, Endpoint, Reconnected

__all__ = [
    "__version__",
    "Authenticated",
    "AuthenticationFailed",
    "Bound",
    "Checkpoint",
    "CheckpointChanged",
    "CheckpointError",
    "ClientConfig",
    "ClientConnection",
    "CloseReason",
    "Command",
    "ConnectionClosed",
    "Connected",
    "ConnectionDead",
    "CubeProtoError",
    "Disconnected",
    "Endpoint",
    "Event",
    "IqFailed",
    "IqResultReceived",
    "IqTimedOut",
    "LocalProtocolError",
    "LostReason",
    "MalformedStanza",
    "MessageLost",
    "MessageRejected",
    "MessageSent",
    "MessageUnconfirmed",
    "OutboundStanza",
    "Ping",
    "PingReceived",
    "PingTimedOut",
    "PongReceived",
    "Reconnected",
    "RemoteProtocolError",
    "ResumableSession",
    "ResumeFailed",
    "SaslCondition",
    "SendIq",
    "StanzaCommand",
    "StanzaContext",
    "StanzaError",
    "StanzaErrorCondition",
    "StanzaErrorType",
    "StreamErrorCondition",
    "StreamManagementEnabled",
    "StreamOpened",
    "StreamResumed",
    "StreamState",
    "TlsUpgradeRequired",
    "Transport",
    "UnhandledStanza",
]

# The chat vocabulary is exported here too (``cubeproto.SendMessage`` is
# ``cubeproto.chat.SendMessage``): one namespace for everything a connection speaks.
from . import chat as chat
from .chat import *  # noqa: F403

__all__ += chat.__all__
