"""Restarts and cuts: a database file keeps everything across a server restart; a chat
stream cut at the socket resumes without loss or duplicates; ``cubeproto serve`` runs as
its own process, serves a client, and stops on Ctrl-C."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from cubeproto.transports.http_blocking import BlockingRestClient
from cubeproto.transports.localserver.testing import (
    CubeUser,
    LocalChatClient,
    RunningServer,
    client_kwargs,
    running_server,
)

from cubeproto import ClientConfig, Transport
from cubeproto.chat import ChatSession, MessageReceived, PrivacyAction, PrivacyItem
from cubeproto.reconnect import Disconnected, Reconnected, ReconnectPolicy
from cubeproto.rest import requests as R
from cubeproto.rest.requests import LoginPassword
from cubeproto.rest.session import Credentials

NewUser = Callable[..., CubeUser]
NewChat = Callable[..., LocalChatClient]


def chat(user: CubeUser) -> LocalChatClient:
    client = LocalChatClient(user.chat_config(), **client_kwargs(user, Transport.TCP))
    client.connect()
    return client


def same_user_on(user: CubeUser, server: RunningServer) -> CubeUser:
    return CubeUser(
        id=user.id,
        login=user.login,
        password=user.password,
        full_name=user.full_name,
        app=user.app,
        server=server,
    )


def test_a_database_file_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    database = str(tmp_path / "cube.sqlite")
    photo = b"\x89PNG" + bytes(range(256)) * 4
    with running_server(database=database) as first:
        app = first.add_app()
        alice = first.user(app, "alice", "alice-pass", "Alice")
        bob = first.user(app, "bob", "bob-pass")
        with BlockingRestClient.connect(alice.credentials, base_url=alice.api_url) as rest:
            group = rest.call(
                R.create_dialog(type=2, name="kept", occupants_ids=[bob.id], base_url=alice.api_url)
            )
            blob = rest.upload_file(
                io.BytesIO(photo), name="p.png", content_type="image/png", size=len(photo)
            )
        a = chat(alice)
        mid = a.send_message(to_dialog=group.id, body="written before the restart")
        a.create_privacy_list("quiet", [PrivacyItem(user_id=bob.id, action=PrivacyAction.DENY)])
        a.set_default_privacy_list("quiet")
        a.set_default_privacy_list(None)
        offline_id = a.send_message(to_user=bob.id, body="for Bob, offline")
        a.ping()  # a round trip: everything above is stored
        a.disconnect()
    with running_server(database=database) as second:
        alice2, bob2 = same_user_on(alice, second), same_user_on(bob, second)
        assert second.call(second.server.store.app, app.id) == app
        with BlockingRestClient.connect(alice2.credentials, base_url=alice2.api_url) as rest:
            dialogs = rest.call(R.list_dialogs(base_url=alice2.api_url))
            assert [(d.id, d.name) for d in dialogs.items if d.type == 2] == [(group.id, "kept")]
            history = rest.call(R.list_messages(group.id, base_url=alice2.api_url))
            assert [(m.id, m.message) for m in history.items] == [
                (mid, "written before the restart")
            ]
            sink = io.BytesIO()
            rest.download_blob(blob.uid, sink)
            assert sink.getvalue() == photo
        a2 = chat(alice2)  # the password still works for XMPP (SCRAM keys persisted)
        assert a2.privacy_list_names().names == ("quiet",)
        assert [i.user_id for i in a2.get_privacy_list("quiet")] == [bob.id]
        b2 = chat(bob2)
        kept = b2.wait_for(MessageReceived, message_id=offline_id)
        assert kept.body == "for Bob, offline" and kept.delayed_at is not None
        b2.disconnect()
        a2.disconnect()


def test_stream_resumes_after_a_socket_cut_with_nothing_lost_or_doubled(
    cube_server: RunningServer, cube_user: NewUser, cube_chat_client: NewChat
) -> None:
    alice, bob = cube_user(), cube_user()
    a = cube_chat_client(alice, policy=ReconnectPolicy(floor=0.05, cap=0.2))
    b = cube_chat_client(bob)
    before = b.send_message(to_user=alice.id, body="before the cut")
    a.wait_for(MessageReceived, message_id=before)
    assert cube_server.call(cube_server.server.cut, alice.id) == 1
    lost = a.wait_for(Disconnected)
    assert lost.resumable
    during = [b.send_message(to_user=alice.id, body=f"during the cut {n}") for n in range(3)]
    back = a.wait_for(Reconnected)
    assert back.resumed
    got = [a.wait_for(MessageReceived, message_id=m).body for m in during]
    assert got == [f"during the cut {n}" for n in range(3)]
    after = b.send_message(to_user=alice.id, body="after")
    a.wait_for(MessageReceived, message_id=after)
    a.ping()
    extra = [e for e in a.backlog if isinstance(e, MessageReceived)]
    assert extra == []  # nothing came twice
    hub = cube_server.server.hub
    assert cube_server.call(lambda: len(hub.sessions_of(alice.id))) == 1
    assert cube_server.call(lambda: hub.store.offline_count(alice.id)) == 0


CLI_MODULE = "cubeproto.transports.localserver.cli"


def _cubeproto() -> list[str]:
    """The console script of this environment (or the module, when it is not installed)."""
    script = Path(sys.executable).with_name("cubeproto")
    return [str(script)] if script.exists() else [sys.executable, "-m", CLI_MODULE]


def _serve_once(database: Path, *options: str) -> tuple[str, subprocess.Popen[str]]:
    """Start ``cubeproto serve`` on free ports; its start-up text (up to the line naming
    the CA) and the process."""
    process = subprocess.Popen(
        [
            *_cubeproto(),
            "serve",
            "--database",
            str(database),
            "--xmpp-port=0",
            "--tls-port=0",
            "--ws-port=0",
            "--http-port=0",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("chat domain"):
            break
    return "".join(lines), process


def test_cubeproto_serve_runs_serves_and_stops(tmp_path: Path) -> None:
    text, process = _serve_once(
        tmp_path / "serve.sqlite",
        "--app-id=321",
        "--auth-key=cli-key",
        "--user=alice:alice-pass",
        "--user=bob:bob-pass",
    )
    try:
        users = {m[0]: int(m[1]) for m in re.findall(r"user (\w+): id (\d+)", text)}
        xmpp = re.search(r"XMPP \(STARTTLS\) ([\d.]+):(\d+)", text)
        rest_url = re.search(r"REST (http://\S+)", text)
        ca = re.search(r"CA certificate (\S+)", text)
        assert xmpp and rest_url and ca and set(users) == {"alice", "bob"}, text
        host, port = xmpp.group(1), int(xmpp.group(2))
        with BlockingRestClient.connect(
            Credentials(
                application_id=321,
                auth_key="cli-key",
                user=LoginPassword(login="alice", password="alice-pass"),
            ),
            base_url=rest_url.group(1),
        ) as rest:
            dialog = rest.call(
                R.create_dialog(type=3, occupants_ids=[users["bob"]], base_url=rest_url.group(1))
            )

        def config(login: str) -> ClientConfig:
            return ClientConfig(
                app_id=321,
                user_id=users[login],
                password=f"{login}-pass",
                entropy=os.urandom,
                wall_clock=time.time,
                chat_host="localhost",
                handler_factory=ChatSession,
            )

        with (
            LocalChatClient(config("alice"), host=host, port=port, ca_file=ca.group(1)) as a,
            LocalChatClient(config("bob"), host=host, port=port, ca_file=ca.group(1)) as b,
        ):
            mid = a.send_message(to_user=users["bob"], body="via serve", dialog_id=dialog.id)
            assert b.wait_for(MessageReceived, message_id=mid).body == "via serve"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cubeproto_serve_names_the_port_in_use(tmp_path: Path) -> None:
    """A port in use ends ``cubeproto serve`` with one sentence naming the listener, the
    address and port, and the option to change it (it was a raw ``OSError: [Errno 98]``
    traceback that named no port); exit status 2."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [
                *_cubeproto(),
                "serve",
                f"--ws-port={port}",
                "--xmpp-port=0",
                "--tls-port=0",
                "--http-port=0",
                "--database",
                str(tmp_path / "busy.sqlite"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert f"cannot listen for XMPP over WebSocket on 127.0.0.1:{port}" in done.stderr
    assert "(choose another port with --ws-port)" in done.stderr
    assert "Traceback" not in done.stderr


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, text
    return match.group(1)


def test_cubeproto_serve_keeps_its_ca_across_restarts(tmp_path: Path) -> None:
    """The CA lives in the state directory next to the database, so a client that trusts
    the first start's CA file completes a TLS handshake with the second start (each start
    used to make a new CA in a new temporary folder); every start prints the users' ids."""
    database = tmp_path / "chat.sqlite"
    texts: list[str] = []
    for _ in range(2):
        text, process = _serve_once(database, "--user=alice:alice-pass")
        texts.append(text)
        try:
            trusted = ssl.create_default_context(cafile=_found(r"CA certificate (\S+)", texts[0]))
            port = int(_found(r"direct TLS :(\d+)", text))
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                trusted.wrap_socket(raw, server_hostname="localhost") as secured,
            ):
                assert secured.version() is not None
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
    state = tmp_path / "chat.sqlite.state"
    assert [_found(r"CA certificate (\S+)", t) for t in texts] == [str(state / "ca.pem")] * 2
    ids = [re.findall(r"user alice: id (\d+)", t) for t in texts]
    assert ids[0] == ids[1] and len(ids[0]) == 1
    assert (state / "ca-key.pem").stat().st_mode & 0o077 == 0
