"""The local ConnectyCube-compatible server: XMPP (TCP+STARTTLS, direct TLS, WebSocket) and
REST over one SQLite store, for development, the demo and users' tests.

Not a scale-out story: where users outgrow one machine they point the same client at
ConnectyCube's cloud or at an ejabberd cluster.
"""

from .server import LocalServer, ServerInfo, ServerLimits
from .store import App, Store, User

__all__ = ["App", "LocalServer", "ServerInfo", "ServerLimits", "Store", "User"]
