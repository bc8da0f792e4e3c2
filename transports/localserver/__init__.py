"""The local ConnectyCube-compatible server: XMPP (TCP+STARTTLS, direct TLS, WebSocket) and
REST over one SQLite store, for development, the demo and users' tests.

Not a scale-out story: where users outgrow one machine they point the same client at
ConnectyCube's cloud or at an ejabberd cluster.

The names below are imported on first use, not with the package: the pytest plugin
(``pytest_plugin``, loaded by every pytest run in an environment where cubeproto is
installed) and the console script live in this package and must import without the
``server`` extra (anyio, trustme), then say which extra is missing
(:func:`require_server_extra`).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .limits import ServerLimits
    from .server import LocalServer, ServerInfo
    from .store import App, Store, User

__all__ = [
    "App",
    "LocalServer",
    "MissingExtraError",
    "ServerInfo",
    "ServerLimits",
    "Store",
    "User",
    "require_server_extra",
]

_LAZY = {
    "LocalServer": ".server",
    "ServerInfo": ".server",
    "ServerLimits": ".limits",
    "App": ".store",
    "Store": ".store",
    "User": ".store",
}

#: The modules the local server needs beyond cubeproto's own dependencies.
SERVER_EXTRA_MODULES = ("anyio", "trustme")


class MissingExtraError(ImportError):
    """The local server (or its test fixtures) was used without the ``server`` extra."""


def require_server_extra(what: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra to install when ``what`` (a
    feature, for the message) cannot run because the ``server`` extra is missing."""
    missing = [name for name in SERVER_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"{what} needs the 'server' extra ({', '.join(missing)} not installed): "
            "pip install 'cubeproto[server]'"
        )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_server_extra(f"cubeproto.transports.localserver.{name}")
    return getattr(importlib.import_module(module, __name__), name)
