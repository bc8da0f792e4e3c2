"""A seeded generator of a realistic ConnectyCube server-to-client XMPP stream.

The shapes follow the wire reference (shared/reference/connectycube-protocol.md sections
7, 8, 12-16, 18-20, 22): 1-1 and group chat messages with ``<extraParams
xmlns="jabber:client">`` (dialog id, save_to_history, date_sent, custom fields, photo and
place attachments), offline messages with a XEP-0203 ``<delay/>``, XEP-0085 chat states,
XEP-0333 markers, edits, deletions, reaction pushes, MUC occupant presences, XEP-0198
``<r/>`` and ``<a h=.../>``, ping results, disco#items and last-activity results.

Text mixes ASCII, escaped markup characters and non-ASCII (Cyrillic, CJK, emoji) so that
escaping and UTF-8 decoding are exercised the way real chat traffic does.

    generate_stream(n, seed) -> bytes   # n top-level elements, no stream header or footer
    stream_header() -> bytes            # the server's <stream:stream ...> opening tag
    STREAM_FOOTER                       # b"</stream:stream>"

The same ``(n, seed)`` always gives the same bytes.
"""

from __future__ import annotations

import random
from xml.sax.saxutils import escape, quoteattr

__all__ = ["APP_ID", "DOMAIN", "MUC", "STREAM_FOOTER", "generate_stream", "stream_header"]

DOMAIN = "chat.connectycube.com"
MUC = "muc.chat.connectycube.com"
APP_ID = 105
ME = 777
RESOURCE = "4f3c2a1b-cube"

STREAM_FOOTER = b"</stream:stream>"

_WORDS = [
    "hello",
    "hi",
    "how",
    "are",
    "you",
    "today",
    "fine",
    "thanks",
    "see",
    "you",
    "tomorrow",
    "meeting",
    "at",
    "noon",
    "lunch",
    "coffee",
    "ok",
    "sure",
    "great",
    "👍",
    "🎉",
    "привет",
    "как",
    "дела",
    "你好",
    "明天见",
    "café",
    "naïve",
    "<b>bold</b>",
    "R&D",
    "5",
    ">",
    "3",
    '"quoted"',
    "it's",
    "https://example.com/a?b=1&c=2",
    "lol",
    ":)",
    "photo",
    "file",
    "location",
    "sent",
]


def stream_header(stream_id: str = "5e1f9a8b7c6d") -> bytes:
    """The server's stream opening: XML declaration and ``<stream:stream>`` tag."""
    return (
        "<?xml version='1.0'?>"
        f"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
        f" id='{stream_id}' from='{DOMAIN}' version='1.0' xml:lang='en'>"
    ).encode()


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.counter = 0x6507F2B0A1B2C3D4E5000000
        self.users = [self.rnd.randrange(10_000, 9_999_999) for _ in range(40)]
        self.dialogs_1to1 = {u: self.object_id() for u in self.users}
        self.rooms = [self.object_id() for _ in range(12)]
        self.h = 0

    def object_id(self) -> str:
        self.counter += self.rnd.randrange(1, 5000)
        return f"{self.counter:024x}"

    def uuid(self) -> str:
        r = self.rnd.getrandbits(128)
        s = f"{r:032x}"
        return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-a{s[17:20]}-{s[20:]}"

    def text(self, lo: int = 1, hi: int = 14) -> str:
        return " ".join(self.rnd.choice(_WORDS) for _ in range(self.rnd.randint(lo, hi)))

    def user_jid(self, user: int, resource: bool = True) -> str:
        jid = f"{user}-{APP_ID}@{DOMAIN}"
        return f"{jid}/{self.uuid()[:13]}" if resource else jid

    def me(self) -> str:
        return f"{ME}-{APP_ID}@{DOMAIN}/{RESOURCE}"

    def room_jid(self, room: str, nick: int | None = None) -> str:
        jid = f"{APP_ID}_{room}@{MUC}"
        return f"{jid}/{nick}" if nick is not None else jid

    def date_sent(self) -> int:
        return 1_700_000_000 + self.rnd.randrange(0, 30_000_000)

    # -- stanzas ---------------------------------------------------------------------

    def extra(self, dialog: str, *, history: bool = True, more: str = "") -> str:
        parts = []
        if history:
            parts.append("<save_to_history>1</save_to_history>")
            parts.append(f"<date_sent>{self.date_sent()}</date_sent>")
        parts.append(f"<dialog_id>{dialog}</dialog_id>")
        parts.append(more)
        return f'<extraParams xmlns="jabber:client">{"".join(parts)}</extraParams>'

    def attachment(self) -> str:
        if self.rnd.random() < 0.8:
            uid = f"{self.rnd.getrandbits(136):034x}"
            name = self.rnd.choice(["IMG_2041.jpg", "photo.png", "report (final).pdf", "видео.mp4"])
            return (
                f'<attachment uid="{uid}" id="{self.rnd.randrange(100000, 999999)}"'
                f' type="{self.rnd.choice(["photo", "video", "file"])}"'
                f' size="{self.rnd.randrange(1000, 9_000_000)}" name={quoteattr(name)}'
                f' content_type="image/jpeg" width="1080" height="1920"'
                f' url="https://api.connectycube.com/blobs/{uid}"/>'
            )
        lat = self.rnd.uniform(-90, 90)
        lon = self.rnd.uniform(-180, 180)
        return f'<attachment latitude="{lat:.7f}" longitude="{lon:.7f}" type="place"/>'

    def custom_fields(self) -> str:
        kind = self.rnd.random()
        if kind < 0.5:
            return ""
        if kind < 0.8:
            return f"<markable>1</markable><silent>{self.rnd.choice([0, 1])}</silent>"
        return (
            f"<user><name>{escape(self.text(1, 2))}</name>"
            f"<meta><age>{self.rnd.randrange(1, 99)}</age></meta></user>"
        )

    def chat_message(self) -> str:
        user = self.rnd.choice(self.users)
        more = self.custom_fields()
        if self.rnd.random() < 0.15:
            more += self.attachment()
        delay = ""
        if self.rnd.random() < 0.05:
            delay = (
                f'<delay xmlns="urn:xmpp:delay" from="{DOMAIN}"'
                f' stamp="2024-05-{self.rnd.randrange(10, 28)}T12:'
                f'{self.rnd.randrange(10, 59)}:07Z"/>'
            )
        return (
            f'<message from="{self.user_jid(user)}" to="{self.me()}" type="chat"'
            f' id="{self.object_id()}"><body>{escape(self.text())}</body>'
            f"{self.extra(self.dialogs_1to1[user], more=more)}{delay}</message>"
        )

    def group_message(self) -> str:
        room = self.rnd.choice(self.rooms)
        sender = self.rnd.choice([*self.users, ME])
        more = self.attachment() if self.rnd.random() < 0.1 else ""
        return (
            f'<message from="{self.room_jid(room, sender)}" to="{self.me()}" type="groupchat"'
            f' id="{self.object_id()}"><body>{escape(self.text())}</body>'
            f"{self.extra(room, more=more)}</message>"
        )

    def chat_state(self) -> str:
        state = self.rnd.choice(["composing", "paused"])
        if self.rnd.random() < 0.6:
            frm = self.user_jid(self.rnd.choice(self.users))
            kind = "chat"
        else:
            frm = self.room_jid(self.rnd.choice(self.rooms), self.rnd.choice(self.users))
            kind = "groupchat"
        return (
            f'<message from="{frm}" to="{self.me()}" type="{kind}">'
            f'<{state} xmlns="http://jabber.org/protocol/chatstates"/></message>'
        )

    def marker(self) -> str:
        user = self.rnd.choice(self.users)
        kind = self.rnd.choice(["received", "received", "displayed"])
        return (
            f'<message type="chat" from="{self.user_jid(user)}" id="{self.object_id()}"'
            f' to="{self.me()}"><{kind} xmlns="urn:xmpp:chat-markers:0"'
            f' id="{self.object_id()}"/>'
            f"{self.extra(self.dialogs_1to1[user], history=False)}</message>"
        )

    def edit(self) -> str:
        user = self.rnd.choice(self.users)
        return (
            f'<message from="{self.user_jid(user)}" to="{self.me()}" type="chat"'
            f' id="{self.object_id()}"><body>{escape(self.text())}</body>'
            f'<replace xmlns="urn:xmpp:message-correct:0" id="{self.object_id()}"'
            f' last="{self.rnd.choice(["true", "false"])}"/>'
            f"{self.extra(self.dialogs_1to1[user], history=False)}</message>"
        )

    def delete(self) -> str:
        room = self.rnd.choice(self.rooms)
        return (
            f'<message from="{self.room_jid(room, self.rnd.choice(self.users))}"'
            f' to="{self.me()}" type="groupchat" id="{self.object_id()}">'
            f'<remove xmlns="urn:xmpp:message-delete:0" id="{self.object_id()}"/>'
            f"{self.extra(room, history=False)}</message>"
        )

    def reactions(self) -> str:
        user = self.rnd.choice(self.users)
        emoji = self.rnd.choice(["👍", "❤️", "😂", "👎"])
        return (
            f'<message type="chat" xmlns="jabber:client" to="{self.me()}" id="{self.object_id()}"'
            f' from="{self.user_jid(user)}">'
            f"{self.extra(self.dialogs_1to1[user], history=False)}"
            f'<reactions user_id="{user}" message_id="{self.object_id()}">'
            f'<reaction add="true" type="{emoji}"/></reactions></message>'
        )

    def presence(self) -> str:
        room = self.rnd.choice(self.rooms)
        user = self.rnd.choice(self.users)
        kind = ' type="unavailable"' if self.rnd.random() < 0.4 else ""
        return (
            f'<presence from="{self.room_jid(room, user)}" to="{self.me()}"{kind}>'
            f'<x xmlns="http://jabber.org/protocol/muc#user">'
            f'<item affiliation="member" role="{"none" if kind else "participant"}"/></x>'
            f"</presence>"
        )

    def sm_request(self) -> str:
        return '<r xmlns="urn:xmpp:sm:3"/>'

    def sm_ack(self) -> str:
        self.h += self.rnd.randrange(1, 6)
        return f'<a xmlns="urn:xmpp:sm:3" h="{self.h}"/>'

    def iq_result(self) -> str:
        kind = self.rnd.random()
        if kind < 0.5:
            return f'<iq id="{self.uuid()}:ping" type="result" from="{DOMAIN}" to="{self.me()}"/>'
        if kind < 0.8:
            user = self.rnd.choice(self.users)
            return (
                f'<iq type="result" from="{self.user_jid(user, resource=False)}"'
                f' to="{self.me()}" id="{self.uuid()}:lastActivity">'
                f'<query xmlns="jabber:iq:last" seconds="{self.rnd.randrange(0, 100000)}"/></iq>'
            )
        room = self.room_jid(self.rnd.choice(self.rooms))
        items = "".join(
            f'<item jid="{room}/{u}" name="{u}"/>'
            for u in self.rnd.sample(self.users, self.rnd.randrange(1, 6))
        )
        return (
            f'<iq type="result" from="{room}" to="{self.me()}" id="{self.uuid()}:muc_disco_items">'
            f'<query xmlns="http://jabber.org/protocol/disco#items">{items}</query></iq>'
        )


_MIX = (
    ("chat_message", 30),
    ("group_message", 14),
    ("chat_state", 16),
    ("marker", 12),
    ("edit", 2),
    ("delete", 1),
    ("reactions", 2),
    ("presence", 6),
    ("sm_request", 6),
    ("sm_ack", 5),
    ("iq_result", 6),
)


def generate_stream(n: int, seed: int) -> bytes:
    """``n`` top-level elements of a server-to-client stream, UTF-8, no header or footer.

    About one element in 200 is followed by a whitespace keepalive (``" "``).
    """
    gen = _Gen(seed)
    names = [name for name, _ in _MIX]
    weights = [weight for _, weight in _MIX]
    makers = {name: getattr(gen, name) for name in names}
    parts: list[str] = []
    for name in gen.rnd.choices(names, weights, k=n):
        parts.append(makers[name]())
        if gen.rnd.random() < 0.005:
            parts.append(" ")
    return "".join(parts).encode("utf-8")
