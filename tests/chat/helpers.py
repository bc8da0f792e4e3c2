"""Test helpers for the chat layer: a deterministic StanzaContext value object and the
peer's view of a built stanza (parsed with lxml inside a ``jabber:client`` stream)."""

from __future__ import annotations

from lxml import etree

from cubeproto.chat import ChatSession, Identity
from cubeproto.commands import HandlerResult, OutboundStanza

APP = 105
HOST = "chat.connectycube.com"
MUC = "muc.chat.connectycube.com"
ME = 777
PEER = 78
GROUP = "6507f0a1c2b3d4e5f6a7b8c9"
PRIVATE = "6507f0a1c2b3d4e5f6a7b8ca"


class FakeContext:
    """A plain StanzaContext: who we are plus counters for ids (deterministic)."""

    def __init__(
        self,
        user_id: int = ME,
        resource: str = "RES",
        features: frozenset[str] = frozenset(),
    ) -> None:
        self.user_id = user_id
        self.app_id = APP
        self.chat_host = HOST
        self.muc_host = MUC
        self.jid = f"{user_id}-{APP}@{HOST}/{resource}"
        self.features = features
        self._n = 0

    def new_message_id(self) -> str:
        self._n += 1
        return f"6507f2b0a1b2c3d4e5{self._n:06x}"

    def new_iq_id(self, purpose: str) -> str:
        self._n += 1
        return f"00000000-0000-4000-8000-{self._n:012x}:{purpose}"

    @property
    def identity(self) -> Identity:
        return Identity.from_jid(self.jid, self.user_id)


def parse(xml: str | bytes) -> etree._Element:
    """Parse one stanza as a peer on a ``jabber:client`` stream does."""
    if isinstance(xml, str):
        xml = xml.encode("utf-8")
    return etree.fromstring(b'<stream xmlns="jabber:client">' + xml + b"</stream>")[0]


def parse_raw(xml: str) -> etree._Element:
    """Parse a stanza exactly as written (its own namespaces only)."""
    return etree.fromstring(xml.encode("utf-8"))


def deliver(stanza: OutboundStanza, from_jid: str) -> etree._Element:
    """The stanza as the server delivers it: parsed, with ``from`` stamped."""
    element = parse(stanza.xml)
    element.set("from", from_jid)
    return element


def my_full_jid(user_id: int = ME, resource: str = "RES") -> str:
    return f"{user_id}-{APP}@{HOST}/{resource}"


def room(dialog: str = GROUP) -> str:
    return f"{APP}_{dialog}@{MUC}"


def handle(session: ChatSession, element: etree._Element, ctx: FakeContext) -> HandlerResult:
    return session.handle_stanza(element, ctx)
