"""Where a chat transport connects by default: ConnectyCube's ports."""

from __future__ import annotations

from cubeproto.config import Transport

__all__ = ["default_port"]

_PORTS = {
    Transport.TCP: 5222,  # STARTTLS
    Transport.DIRECT_TLS: 5223,
    Transport.WEBSOCKET: 5280,  # ejabberd's usual ws:// listener; ConnectyCube has no ws://
    Transport.SECURE_WEBSOCKET: 5291,  # wss://chat.connectycube.com:5291
}


def default_port(transport: Transport) -> int:
    """The port a transport uses unless the application gives one."""
    return _PORTS[transport]
