"""A seeded generator of a realistic ConnectyCube server-to-client XMPP stream.

The shapes are the ones ConnectyCube's servers and the official SDK 6.1.2 put on the wire:
1-1 and group chat messages with ``<extraParams xmlns="jabber:client">`` (dialog id,
save_to_history, date_sent, custom fields, photo and place attachments), offline messages
with a XEP-0203 ``<delay/>``, XEP-0085 chat states, XEP-0333 markers, edits, deletions,
reaction pushes, MUC occupant presences, XEP-0198 ``<r/>`` and ``<a h=.../>``, ping
results, disco#items and last-activity results.

Text mixes ASCII, escaped markup characters and non-ASCII (Cyrillic, CJK, emoji) so that
escaping and UTF-8 decoding are exercised the way real chat traffic does.

Two kinds of stream (``STREAMS``), with the same mix of shapes:

* ``"uniform"`` (the original): 40 peers and 12 rooms chosen uniformly, and every
  stanza from a user comes from a resource never seen before.  Per-peer caches always
  fit, per-JID caches never hit.
* ``"recurring"``: a bounded population with the skew of real traffic -- 4,000 peers, of
  whom a few write most messages (Zipf weights 1/rank), each on one to three devices
  whose resources do not change (the first used most); 300 rooms, also Zipf-weighted,
  each with its own member list (3 to 400 members; the busiest members of the
  population sit in more rooms) and its own Zipf skew among its members.  The same
  senders, resources and (sender, dialog) pairs recur, a few thousand of them, as they
  do on a real session: what bounded caches keyed by peer see.

    generate_stream(n, seed) -> bytes   # n top-level elements, no stream header or footer
    generate_stream(n, seed, kind="recurring")
    stream_header() -> bytes            # the server's <stream:stream ...> opening tag
    STREAM_FOOTER                       # b"</stream:stream>"

The same ``(n, seed, kind)`` always gives the same bytes.
"""

from __future__ import annotations

import bisect
import itertools
import random
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "APP_ID",
    "DOMAIN",
    "MUC",
    "STREAMS",
    "STREAM_FOOTER",
    "generate_stream",
    "stream_header",
]

#: The kinds of stream :func:`generate_stream` makes (see the module docstring).
STREAMS = ("uniform", "recurring")

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
    """The uniform stream's choices: few peers and rooms, a new resource every time."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.counter = 0x6507F2B0A1B2C3D4E5000000
        self.users = [self.rnd.randrange(10_000, 9_999_999) for _ in range(40)]
        self.dialogs_1to1 = {u: self.object_id() for u in self.users}
        self.rooms = [self.object_id() for _ in range(12)]
        self.h = 0

    # -- who: the two kinds of stream differ only here -------------------------------

    def peer(self) -> int:
        """The other user of a 1-1 stanza."""
        return self.rnd.choice(self.users)

    def room(self) -> str:
        """The room of a group stanza."""
        return self.rnd.choice(self.rooms)

    def member(self, room: str, *, me_too: bool = False) -> int:
        """A user in ``room`` (``me_too``: we may be the sender, as in a group message)."""
        return self.rnd.choice([*self.users, ME] if me_too else self.users)

    def members_of(self, room: str, k: int) -> list[int]:
        """Up to ``k`` different users in ``room``."""
        return self.rnd.sample(self.users, k)

    def resource(self, user: int) -> str:
        """The resource a stanza from ``user`` comes from."""
        return self.uuid()[:13]

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
        return f"{jid}/{self.resource(user)}" if resource else jid

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
        user = self.peer()
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
        room = self.room()
        sender = self.member(room, me_too=True)
        more = self.attachment() if self.rnd.random() < 0.1 else ""
        return (
            f'<message from="{self.room_jid(room, sender)}" to="{self.me()}" type="groupchat"'
            f' id="{self.object_id()}"><body>{escape(self.text())}</body>'
            f"{self.extra(room, more=more)}</message>"
        )

    def chat_state(self) -> str:
        state = self.rnd.choice(["composing", "paused"])
        if self.rnd.random() < 0.6:
            frm = self.user_jid(self.peer())
            kind = "chat"
        else:
            room = self.room()
            frm = self.room_jid(room, self.member(room))
            kind = "groupchat"
        return (
            f'<message from="{frm}" to="{self.me()}" type="{kind}">'
            f'<{state} xmlns="http://jabber.org/protocol/chatstates"/></message>'
        )

    def marker(self) -> str:
        user = self.peer()
        kind = self.rnd.choice(["received", "received", "displayed"])
        return (
            f'<message type="chat" from="{self.user_jid(user)}" id="{self.object_id()}"'
            f' to="{self.me()}"><{kind} xmlns="urn:xmpp:chat-markers:0"'
            f' id="{self.object_id()}"/>'
            f"{self.extra(self.dialogs_1to1[user], history=False)}</message>"
        )

    def edit(self) -> str:
        user = self.peer()
        return (
            f'<message from="{self.user_jid(user)}" to="{self.me()}" type="chat"'
            f' id="{self.object_id()}"><body>{escape(self.text())}</body>'
            f'<replace xmlns="urn:xmpp:message-correct:0" id="{self.object_id()}"'
            f' last="{self.rnd.choice(["true", "false"])}"/>'
            f"{self.extra(self.dialogs_1to1[user], history=False)}</message>"
        )

    def delete(self) -> str:
        room = self.room()
        return (
            f'<message from="{self.room_jid(room, self.member(room))}"'
            f' to="{self.me()}" type="groupchat" id="{self.object_id()}">'
            f'<remove xmlns="urn:xmpp:message-delete:0" id="{self.object_id()}"/>'
            f"{self.extra(room, history=False)}</message>"
        )

    def reactions(self) -> str:
        user = self.peer()
        emoji = self.rnd.choice(["👍", "❤️", "😂", "👎"])
        return (
            f'<message type="chat" xmlns="jabber:client" to="{self.me()}" id="{self.object_id()}"'
            f' from="{self.user_jid(user)}">'
            f"{self.extra(self.dialogs_1to1[user], history=False)}"
            f'<reactions user_id="{user}" message_id="{self.object_id()}">'
            f'<reaction add="true" type="{emoji}"/></reactions></message>'
        )

    def presence(self) -> str:
        room = self.room()
        user = self.member(room)
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
            user = self.peer()
            return (
                f'<iq type="result" from="{self.user_jid(user, resource=False)}"'
                f' to="{self.me()}" id="{self.uuid()}:lastActivity">'
                f'<query xmlns="jabber:iq:last" seconds="{self.rnd.randrange(0, 100000)}"/></iq>'
            )
        room_id = self.room()
        room = self.room_jid(room_id)
        items = "".join(
            f'<item jid="{room}/{u}" name="{u}"/>'
            for u in self.members_of(room_id, self.rnd.randrange(1, 6))
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


class _Zipf:
    """Draws from ``items`` with weights 1/rank (the first the most often)."""

    def __init__(self, rnd: random.Random, items: list[int] | list[str]) -> None:
        self.rnd = rnd
        self.items = items
        self.cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(items) + 1)))

    def draw(self) -> int | str:
        at = self.rnd.random() * self.cumulative[-1]
        return self.items[bisect.bisect_right(self.cumulative, at)]


class _RecurringGen(_Gen):
    """A bounded population with a realistic skew (see the module docstring)."""

    PEERS = 4_000
    ROOMS = 300

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        rnd = self.rnd
        # Peers in order of activity: the first write the most.
        self.users = rnd.sample(range(10_000, 9_999_999), self.PEERS)
        self.dialogs_1to1 = {u: self.object_id() for u in self.users}
        self.peers = _Zipf(rnd, self.users)
        self.rooms = [self.object_id() for _ in range(self.ROOMS)]
        self.busy_rooms = _Zipf(rnd, self.rooms)
        self.members: dict[str, _Zipf] = {}
        for room in self.rooms:
            size = min(400, int(3 / (1 - rnd.random()) ** 0.8))  # many small, a few large
            chosen: dict[int, None] = {}
            while len(chosen) < size:
                chosen[int(self.peers.draw())] = None  # active people join more rooms
            members = list(chosen)
            rnd.shuffle(members)  # a room's busiest member is not the population's
            self.members[room] = _Zipf(rnd, members)
        self.devices = {
            u: [self.uuid()[:13] for _ in range(rnd.choice((1, 1, 2, 3)))] for u in self.users
        }

    def peer(self) -> int:
        return int(self.peers.draw())

    def room(self) -> str:
        return str(self.busy_rooms.draw())

    def member(self, room: str, *, me_too: bool = False) -> int:
        if me_too and self.rnd.random() < 0.05:
            return ME
        return int(self.members[room].draw())

    def members_of(self, room: str, k: int) -> list[int]:
        return list({self.member(room): None for _ in range(k)})

    def resource(self, user: int) -> str:
        devices = self.devices.get(user)
        if devices is None:  # ME (our own echo): our own resource
            return RESOURCE
        return devices[0] if len(devices) == 1 or self.rnd.random() < 0.7 else devices[-1]


def generate_stream(n: int, seed: int, *, kind: str = "uniform") -> bytes:
    """``n`` top-level elements of a server-to-client stream, UTF-8, no header or footer.

    ``kind`` is one of :data:`STREAMS`.  About one element in 200 is followed by a
    whitespace keepalive (``" "``).
    """
    if kind not in STREAMS:
        raise ValueError(f"kind must be one of {STREAMS}, not {kind!r}")
    gen = _Gen(seed) if kind == "uniform" else _RecurringGen(seed)
    names = [name for name, _ in _MIX]
    weights = [weight for _, weight in _MIX]
    makers = {name: getattr(gen, name) for name in names}
    parts: list[str] = []
    for name in gen.rnd.choices(names, weights, k=n):
        parts.append(makers[name]())
        if gen.rnd.random() < 0.005:
            parts.append(" ")
    return "".join(parts).encode("utf-8")
