"""Where the examples find the server, and how they log in: one place to edit.

The values are the ones ``cubeproto serve`` prints, taken from the environment, so that
the same examples run against the local server, ConnectyCube's cloud or your own
deployment::

    cubeproto serve --user alice:alice-pass --user bob:bob-pass --user carol:carol-pass
    export CUBE_APP_ID=105 CUBE_AUTH_KEY=local-auth-key CUBE_API_URL=http://127.0.0.1:8080 \\
           CUBE_HOST=127.0.0.1 CUBE_DOMAIN=localhost CUBE_XMPP_PORT=5222 \\
           CUBE_CA_FILE=/path/printed/by/serve/ca.pem
    python examples/echo_bot_blocking.py alice alice-pass

Logging in follows the chat guide: a REST session by login and password tells the user
id, and the chat logs in with that id and the same password.
"""

from __future__ import annotations

import os
import time

from cubeproto.transports.anyio_chat import AsyncChatClient
from cubeproto.transports.blocking_chat import ChatClient
from cubeproto.transports.http_blocking import BlockingRestClient

from cubeproto import ClientConfig
from cubeproto.chat import ChatSession
from cubeproto.rest import Credentials, LoginPassword

APP_ID = int(os.environ.get("CUBE_APP_ID", "105"))
AUTH_KEY = os.environ.get("CUBE_AUTH_KEY", "local-auth-key")
API_URL = os.environ.get("CUBE_API_URL", "http://127.0.0.1:8080")
HOST = os.environ.get("CUBE_HOST", "127.0.0.1")
DOMAIN = os.environ.get("CUBE_DOMAIN", "localhost")
XMPP_PORT = int(os.environ.get("CUBE_XMPP_PORT", "5222"))
CA_FILE = os.environ.get("CUBE_CA_FILE") or None


def credentials(login: str, password: str) -> Credentials:
    """REST credentials of a user of the application."""
    return Credentials(
        application_id=APP_ID, auth_key=AUTH_KEY, user=LoginPassword(login=login, password=password)
    )


def rest_client(login: str, password: str) -> BlockingRestClient:
    """A blocking REST client for the user (its session is made on the first call)."""
    return BlockingRestClient.connect(credentials(login, password), base_url=API_URL)


def user_id(login: str, password: str) -> int:
    """The user's id, from a REST session (as the guide's chat login does)."""
    with rest_client(login, password) as api:
        return api.call(api.session.create_session_request()).user_id


def chat_config(uid: int, password: str) -> ClientConfig:
    """The chat configuration of user ``uid`` (STARTTLS on the XMPP port)."""
    return ClientConfig(
        app_id=APP_ID,
        user_id=uid,
        password=password,
        chat_host=DOMAIN,
        entropy=os.urandom,
        wall_clock=time.time,
        handler_factory=ChatSession,
    )


def chat_client(uid: int, password: str) -> ChatClient:
    """The blocking chat client of user ``uid`` (use it as ``with``: connects, disconnects)."""
    return ChatClient(chat_config(uid, password), host=HOST, port=XMPP_PORT, ca_file=CA_FILE)


def async_chat_client(uid: int, password: str) -> AsyncChatClient:
    """The asyncio/trio chat client of user ``uid`` (use it as ``async with``)."""
    return AsyncChatClient(chat_config(uid, password), host=HOST, port=XMPP_PORT, ca_file=CA_FILE)
