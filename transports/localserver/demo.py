"""``cubeproto demo``: an embedded local server and a narrated conversation.

Alice, Bob and Carol use the async chat client and the REST client against a server
started in this process.  Each step prints one timestamped line; colours only when stdout
is a terminal.
"""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import anyio

from cubeproto import ClientConfig
from cubeproto.chat import (
    ChatSession,
    MessageBounced,
    MessageDelivered,
    MessageReceived,
    PrivacyAction,
    PrivacyItem,
)
from cubeproto.config import Transport
from cubeproto.events import Event
from cubeproto.rest import requests as R
from cubeproto.rest.requests import LoginPassword
from cubeproto.rest.session import Credentials

from ..anyio_chat import AsyncChatClient
from ..http_anyio import AsyncRestClient
from .server import LocalServer

__all__ = ["run_demo"]


class Narrator:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.colour = out.isatty()
        self.start = time.monotonic()

    def say(self, who: str, text: str) -> None:
        stamp = f"{time.monotonic() - self.start:6.2f}s"
        if self.colour:
            colours = {"alice": "35", "bob": "36", "carol": "33", "server": "32"}
            code = colours.get(who.lower(), "37")
            line = f"\x1b[2m{stamp}\x1b[0m \x1b[{code}m{who:>6}\x1b[0m  {text}"
        else:
            line = f"{stamp} {who:>6}  {text}"
        print(line, file=self.out, flush=True)


class Person:
    def __init__(self, name: str, server: LocalServer, app: Any, password: str) -> None:
        self.name = name
        self.user = server.add_user(app.id, name.lower(), password, full_name=name)
        info = server.info
        self.config = ClientConfig(
            app_id=app.id,
            user_id=self.user.id,
            password=password,
            entropy=os.urandom,
            wall_clock=time.time,
            chat_host=info.domain,
            transport=Transport.TCP,
            handler_factory=ChatSession,
        )
        self.chat = AsyncChatClient(
            self.config, host=info.host, port=info.xmpp_port, ca_file=info.ca_file
        )
        self.rest = AsyncRestClient.connect(
            Credentials(
                application_id=app.id,
                auth_key=app.auth_key,
                user=LoginPassword(login=name.lower(), password=password),
            ),
            base_url=info.api_url,
        )
        self.base = info.api_url
        self.inbox: list[Event] = []
        self._seen = anyio.Event()

    async def listen(self) -> None:
        async for event in self.chat.events():
            self.inbox.append(event)
            self._seen.set()

    async def wait_for(self, match: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        with anyio.fail_after(timeout):
            while True:
                for event in self.inbox:
                    if match(event):
                        self.inbox.remove(event)
                        return event
                self._seen = anyio.Event()
                await self._seen.wait()


async def _demo(out: TextIO) -> None:
    say = Narrator(out).say
    async with LocalServer() as server:
        app = server.add_app(105, "demo-auth-key")
        info = server.info
        say(
            "server",
            f"local ConnectyCube server: XMPP {info.host}:{info.xmpp_port} (STARTTLS), "
            f"TLS :{info.tls_port}, WebSocket :{info.ws_port}, REST {info.api_url}",
        )
        alice = Person("Alice", server, app, "alice-pass")
        bob = Person("Bob", server, app, "bob-pass")
        carol = Person("Carol", server, app, "carol-pass")
        people = (alice, bob, carol)
        for p in people:
            await p.chat.connect()
            say(p.name, f"connected over STARTTLS + SCRAM as user {p.user.id}")
        async with anyio.create_task_group() as tg:
            for p in people:
                tg.start_soon(p.listen)
            base = info.api_url
            # 1-1 dialog, group dialog, public dialog
            d11 = await alice.rest.call(
                R.create_dialog(type=3, occupants_ids=[bob.user.id], base_url=base)
            )
            say("Alice", f"created a 1-1 dialog with Bob ({d11.id})")
            group = await alice.rest.call(
                R.create_dialog(
                    type=2,
                    name="Weekend trip",
                    occupants_ids=[bob.user.id, carol.user.id],
                    base_url=base,
                )
            )
            say("Alice", f"created group dialog 'Weekend trip' with Bob and Carol ({group.id})")
            public = await alice.rest.call(
                R.create_dialog(type=4, name="Hikers of the world", base_url=base)
            )
            await carol.rest.call(R.subscribe_dialog(public.id, base_url=base))
            say("Carol", "subscribed to the public dialog 'Hikers of the world'")
            # typing + message with metadata + delivered/read
            await alice.chat.send_typing(to_user=bob.user.id)
            await bob.wait_for(lambda e: type(e).__name__ == "ChatStateChanged")
            say("Bob", "sees: Alice is typing…")
            mid = await alice.chat.send_message(
                to_user=bob.user.id,
                body="Hi Bob! Ready for Saturday?",
                dialog_id=d11.id,
                extension={"mood": "excited"},
            )
            got = await bob.wait_for(
                lambda e: isinstance(e, MessageReceived) and e.message_id == mid
            )
            assert isinstance(got, MessageReceived)
            say("Bob", f"received {got.body!r} with metadata mood={got.extension.get('mood')!r}")
            await alice.wait_for(
                lambda e: (
                    type(e).__name__ == "MessageSent" or getattr(e, "status", None) is not None
                )
            )
            say("Alice", "message status: sent (acknowledged by the server)")
            await bob.chat.send_delivered(mid, to_user=alice.user.id, dialog_id=d11.id)
            await alice.wait_for(lambda e: isinstance(e, MessageDelivered) and e.message_id == mid)
            say("Alice", "message status: delivered")
            await bob.chat.send_read(mid, to_user=alice.user.id, dialog_id=d11.id)
            await alice.wait_for(lambda e: type(e).__name__ == "MessageRead")
            say("Alice", "message status: read")
            # group message
            gid = await bob.chat.send_message(to_dialog=group.id, body="Group hello from Bob")
            await carol.wait_for(lambda e: isinstance(e, MessageReceived) and e.message_id == gid)
            say("Carol", "received Bob's group message in 'Weekend trip'")
            # attachment: upload, send, download
            photo = b"\x89PNG\r\n\x1a\n" + os.urandom(2048)
            blob = await alice.rest.upload_file(
                io.BytesIO(photo), name="summit.png", content_type="image/png", size=len(photo)
            )
            say("Alice", f"uploaded a photo ({len(photo)} bytes, blob {blob.id})")
            pid = await alice.chat.send_message(
                to_dialog=group.id,
                body="Photo from the summit",
                extension={
                    "attachments": [{"uid": blob.uid, "id": str(blob.id), "type": "photo"}],
                },
            )
            pm = await carol.wait_for(
                lambda e: isinstance(e, MessageReceived) and e.message_id == pid
            )
            assert isinstance(pm, MessageReceived)
            attachments = pm.extension.get("attachments")
            assert isinstance(attachments, list) and isinstance(attachments[0], dict)
            sink = io.BytesIO()
            await carol.rest.download_blob(str(attachments[0]["uid"]), sink)
            say(
                "Carol",
                f"downloaded the photo attachment: {len(sink.getvalue())} bytes, "
                f"{'identical' if sink.getvalue() == photo else 'DIFFERENT'}",
            )
            # location
            lid = await bob.chat.send_message(
                to_dialog=group.id,
                body="Meet here",
                extension={
                    "attachments": [
                        {"latitude": "64.7964274", "longitude": "-23.7391878", "type": "place"}
                    ],
                },
            )
            await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.message_id == lid)
            say("Alice", "received a location from Bob: 64.7964274, -23.7391878")
            # edit
            await bob.chat.edit_message(lid, "Meet here at 9:00", to_dialog=group.id)
            await alice.wait_for(lambda e: type(e).__name__ == "MessageEdited")
            say("Alice", "sees Bob's edit: 'Meet here at 9:00'")
            # reactions
            await carol.rest.call(R.update_reactions(pid, add="🔥", base_url=base))
            await alice.wait_for(lambda e: type(e).__name__ == "ReactionsChanged")
            reactions = await alice.rest.call(R.list_reactions(pid, base_url=base))
            say("Alice", f"Carol reacted 🔥 to the photo; reactions: {dict(reactions.by_emoji)}")
            # delete
            did = await carol.chat.send_message(to_dialog=group.id, body="oops, wrong chat")
            await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.message_id == did)
            await carol.chat.delete_message(did, to_dialog=group.id)
            await alice.wait_for(lambda e: type(e).__name__ == "MessageDeleted")
            say("Alice", "sees Carol delete a message for everyone")
            # unread counts
            unread = await carol.rest.call(R.unread_counts([group.id], base_url=base))
            say("Carol", f"unread counts: total {unread.total}")
            await carol.rest.call(R.mark_all_read(group.id, base_url=base))
            unread = await carol.rest.call(R.unread_counts([group.id], base_url=base))
            say("Carol", f"after mark-all-read, unread: total {unread.total}")
            # search
            found = await bob.rest.call(R.search("summit", base_url=base))
            say("Bob", f"search 'summit': {len(found.messages)} message(s)")
            # privacy block
            await bob.chat.create_privacy_list(
                "blocked", [PrivacyItem(user_id=carol.user.id, action=PrivacyAction.DENY)]
            )
            await bob.chat.set_default_privacy_list("blocked")
            say("Bob", "blocked Carol with a privacy list")
            await carol.chat.send_message(to_user=bob.user.id, body="Bob? are you there?")
            bounced = await carol.wait_for(lambda e: isinstance(e, MessageBounced))
            assert isinstance(bounced, MessageBounced)
            say(
                "Carol",
                f"her message bounced: {bounced.error.condition_name} (code {bounced.error.code})",
            )
            # last activity, ping
            seconds = await alice.chat.last_activity(bob.user.id)
            say("Alice", f"last activity of Bob: {seconds} s (online)")
            rtt = await alice.chat.ping()
            say("Alice", f"ping to the server: {rtt * 1000:.1f} ms")
            # cut and resume
            say("server", "cutting Alice's connection…")
            await server.cut(alice.user.id)
            rid = await bob.chat.send_message(
                to_user=alice.user.id,
                body="Sent while you were cut",
            )
            await alice.chat.wait_connected()
            await alice.wait_for(
                lambda e: isinstance(e, MessageReceived) and e.message_id == rid, timeout=20
            )
            say("Alice", "reconnected, stream resumed, and nothing was lost: got Bob's message")
            say("server", "demo complete")
            tg.cancel_scope.cancel()
        # Each client's connect() entered a task group in this task: leave them LIFO.
        for p in reversed(people):
            await p.chat.disconnect()
            await p.rest.aclose()


def run_demo(out: TextIO | None = None) -> int:
    anyio.run(_demo, out or sys.stdout)
    return 0
