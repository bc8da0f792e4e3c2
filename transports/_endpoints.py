"""Where a chat transport connects by default: ConnectyCube's ports, and the system's
nameservers for an SRV lookup."""

from __future__ import annotations

from cubeproto.config import Transport
from cubeproto.srv import nameservers_from_resolv_conf

__all__ = ["default_port", "system_nameservers"]

RESOLV_CONF = "/etc/resolv.conf"

_PORTS = {
    Transport.TCP: 5222,  # STARTTLS
    Transport.DIRECT_TLS: 5223,
    Transport.WEBSOCKET: 5280,  # ejabberd's usual ws:// listener; ConnectyCube has no ws://
    Transport.SECURE_WEBSOCKET: 5291,  # wss://chat.connectycube.com:5291
}


def default_port(transport: Transport) -> int:
    """The port a transport uses unless the application gives one."""
    return _PORTS[transport]


def system_nameservers() -> list[tuple[str, int]]:
    """The nameservers of ``/etc/resolv.conf`` (``127.0.0.1`` without one, or without
    the file, as the C library does)."""
    try:
        with open(RESOLV_CONF, encoding="utf-8", errors="replace") as file:
            text = file.read()
    except OSError:
        text = ""
    return nameservers_from_resolv_conf(text)
