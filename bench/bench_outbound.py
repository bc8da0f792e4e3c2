"""Outbound throughput: building and serializing chat messages.

100,000 1-1 chat messages, each with a body, an extension (save_to_history, dialog_id,
markable and a nested user object plus one attachment) and a fresh id, built and
serialized to text by:

1. **slixmpp 1.17**: ``Message()`` with to/type/id/body set through its stanza interface,
   the ``<extraParams>`` subtree appended as ElementTree elements, then ``str(msg)``;
2. **cubeproto**: ``SendMessage(...)`` (validated and pre-escaped at construction) then
   ``build(ctx)`` with a real :class:`cubeproto._ids.IdFactory` for the ObjectId.

Both produce equivalent XML (checked once before timing).  Prints messages per second and
the ratio cubeproto/slixmpp (higher is faster), each the best of ``--repeat`` runs.  Not
asserted anywhere: this is a report, not a test.

    python bench/bench_outbound.py           # 100,000 messages
    python bench/bench_outbound.py --quick   # 10,000 messages
"""

from __future__ import annotations

import argparse
import gc
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

from lxml import etree
from slixmpp import Message

from cubeproto._ids import IdFactory
from cubeproto.chat import SendMessage

APP = 105
HOST = "chat.connectycube.com"
DIALOG = "6507f0a1c2b3d4e5f6a7b8ca"
ATTACHMENT = {"uid": "7cafb6030d3e4348ba49cab24c0cf10800", "id": "421517", "type": "photo"}


class Context:
    """The StanzaContext a logged-in connection provides."""

    user_id = 777
    app_id = APP
    chat_host = HOST
    muc_host = "muc." + HOST
    jid = f"777-{APP}@{HOST}/RES"
    features: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.ids = IdFactory(entropy=os.urandom, wall_clock=time.time)

    def new_message_id(self) -> str:
        return self.ids.message_id()

    def new_iq_id(self, purpose: str) -> str:
        return self.ids.iq_id(purpose)


def body_of(i: int) -> str:
    return f"message number {i} with <markup> & 'quotes'"


def run_cubeproto(n: int) -> list[str]:
    ctx = Context()
    out = []
    for i in range(n):
        command = SendMessage(
            to_user=78,
            body=body_of(i),
            dialog_id=DIALOG,
            markable=True,
            extension={"user": {"name": "Bob", "age": i}, "attachments": [ATTACHMENT]},
        )
        out.append(command.build(ctx).xml)
    return out


def run_slixmpp(n: int) -> list[str]:
    ids = IdFactory(entropy=os.urandom, wall_clock=time.time)
    to = f"78-{APP}@{HOST}"
    out = []
    for i in range(n):
        msg = Message()  # type: ignore[no-untyped-call]
        msg["to"] = to
        msg["type"] = "chat"
        msg["id"] = ids.message_id()
        msg["body"] = body_of(i)
        extra = ET.SubElement(msg.xml, "{jabber:client}extraParams")
        for key, value in (("save_to_history", "1"), ("dialog_id", DIALOG), ("markable", "1")):
            ET.SubElement(extra, "{jabber:client}" + key).text = value
        user = ET.SubElement(extra, "{jabber:client}user")
        ET.SubElement(user, "{jabber:client}name").text = "Bob"
        ET.SubElement(user, "{jabber:client}age").text = str(i)
        ET.SubElement(extra, "{jabber:client}attachment", ATTACHMENT)
        out.append(str(msg))
    return out


def canonical(xml: str) -> bytes:
    """A comparable form: parsed in the client namespace, ids blanked, canonicalized."""
    if "xmlns=" not in xml.split(">", 1)[0]:
        xml = xml.replace("<message ", '<message xmlns="jabber:client" ', 1)
    element = etree.fromstring(xml.encode())
    element.set("id", "")
    return etree.tostring(element, method="c14n")


def best(fn: Callable[[int], list[str]], n: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn(n)
        times.append(time.perf_counter() - start)
    return n / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 messages")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000

    ours, theirs = run_cubeproto(3), run_slixmpp(3)
    for a, b in zip(ours, theirs, strict=True):
        if canonical(a) != canonical(b):
            raise SystemExit(f"outputs differ:\n{a}\n{b}")

    slix = best(run_slixmpp, n, args.repeat)
    cube = best(run_cubeproto, n, args.repeat)
    print(f"outbound: {n:,} chat messages with extension + markable, built and serialized")
    print(f"  slixmpp 1.17 Message + str(): {slix:12,.0f} msgs/s")
    print(f"  cubeproto SendMessage.build:  {cube:12,.0f} msgs/s")
    print(f"  ratio cubeproto / slixmpp:    {cube / slix:12.1f} x")


if __name__ == "__main__":
    main()
