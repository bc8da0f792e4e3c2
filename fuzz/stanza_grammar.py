"""A grammar of the ConnectyCube vocabulary, then mutations: top-level elements as a peer
could send them, for the structure-aware fuzz target (fuzz_stanza_grammar.py) and the
differential property (tests/core/test_role_verdicts.py).

:func:`stanza` builds one well-formed top-level element from the shapes ConnectyCube's
servers and the official SDK put on the wire: messages with ``<extraParams
xmlns="jabber:client">`` (custom fields, attachments as attributes), a body with escapes,
character references and non-ASCII, chat markers, chat states, edits, deletions, delays,
IQs (ping, last activity, disco#items, privacy lists), presences (MUC joins, statuses)
and XEP-0198 ``<r/>``.  :func:`mutate` then breaks it the way an attacker would: an
undeclared prefix on a name, a nested stream header, a stanza renamed to an unknown name
of the content namespace, huge fan-out, deep nesting, many attributes, long text, raw
bytes.

Choices come from any ``pick(n) -> int in [0, n)``: ``random.Random().randrange`` for
hypothesis, atheris' ``FuzzedDataProvider`` for the fuzzer.  No cubeproto import.
"""

from __future__ import annotations

from collections.abc import Callable

Pick = Callable[[int], int]

_WORDS = ("hi", "привет", "你好", "🙂", "a&amp;b", "&lt;tag&gt;", "&#x1F600;", "&#233;", "x y")
_NAMES = ("body", "subject", "thread", "dialog_id", "save_to_history", "date_sent", "custom")
_STATES = ("active", "composing", "paused", "inactive", "gone")
_MARKERS = ("markable", "received", "displayed")


def _one(pick: Pick, options: tuple[str, ...]) -> str:
    return options[pick(len(options))]


def _text(pick: Pick) -> str:
    return " ".join(_one(pick, _WORDS) for _ in range(pick(4)))


def _jid(pick: Pick) -> str:
    user = 1000 + pick(5)
    if pick(3) == 0:
        return f"105_dialog{pick(3)}@muc.chat.connectycube.com/{user}"
    return f"{user}-105@chat.connectycube.com/res{pick(2)}"


def _attachment(pick: Pick) -> str:
    attrs = [f'type="{_one(pick, ("photo", "video", "place", "file"))}"', f'id="{pick(99)}"']
    if pick(2):
        attrs.append('url="https://cdn.example/a?x=1&amp;y=2"')
    if pick(2):
        attrs.append(f'name="{_text(pick)}"')
    return "<attachment " + " ".join(attrs) + "/>"


def _extra_params(pick: Pick) -> str:
    parts = []
    for _ in range(pick(4)):
        name = _one(pick, _NAMES[3:])
        parts.append(f"<{name}>{_text(pick)}</{name}>")
    for _ in range(pick(3)):
        parts.append(_attachment(pick))
    return '<extraParams xmlns="jabber:client">' + "".join(parts) + "</extraParams>"


def _message(pick: Pick) -> str:
    kind = _one(pick, ("chat", "groupchat", "headline", "normal"))
    children = []
    if pick(4):
        children.append(f"<body>{_text(pick)}</body>")
    if pick(2):
        children.append(_extra_params(pick))
    extra = pick(6)
    if extra == 0:
        marker = _one(pick, _MARKERS)
        mid = "" if marker == "markable" else f' id="m{pick(9)}"'
        children.append(f'<{marker} xmlns="urn:xmpp:chat-markers:0"{mid}/>')
    elif extra == 1:
        children.append(f'<{_one(pick, _STATES)} xmlns="http://jabber.org/protocol/chatstates"/>')
    elif extra == 2:
        children.append(f'<replace xmlns="urn:xmpp:message-correct:0" id="m{pick(9)}"/>')
    elif extra == 3:
        children.append(f'<remove xmlns="urn:xmpp:message-delete:0" id="m{pick(9)}"/>')
    elif extra == 4:
        children.append('<delay xmlns="urn:xmpp:delay" stamp="2024-06-01T12:00:00.000Z"/>')
    return (
        f'<message type="{kind}" id="m{pick(99)}" from="{_jid(pick)}" to="{_jid(pick)}">'
        + "".join(children)
        + "</message>"
    )


def _iq(pick: Pick) -> str:
    kind = pick(5)
    if kind == 0:
        return f'<iq type="get" id="p{pick(9)}"><ping xmlns="urn:xmpp:ping"/></iq>'
    if kind == 1:
        return (
            f'<iq type="result" id="l{pick(9)}">'
            f'<query xmlns="jabber:iq:last" seconds="{pick(999)}"/></iq>'
        )
    if kind == 2:
        items = "".join(f'<item jid="{_jid(pick)}" name="{_text(pick)}"/>' for _ in range(pick(4)))
        return (
            f'<iq type="result" id="d{pick(9)}">'
            f'<query xmlns="http://jabber.org/protocol/disco#items">{items}</query></iq>'
        )
    if kind == 3:
        return (
            f'<iq type="get" id="v{pick(9)}"><query xmlns="jabber:iq:privacy">'
            f'<list name="{_text(pick)}"/></query></iq>'
        )
    return f'<iq type="result" id="r{pick(9)}"/>'


def _presence(pick: Pick) -> str:
    kind = pick(4)
    if kind == 0:
        return "<presence/>"
    if kind == 1:
        return (
            f'<presence to="{_jid(pick)}"><x xmlns="http://jabber.org/protocol/muc">'
            '<history maxstanzas="0"/></x></presence>'
        )
    if kind == 2:
        return f'<presence type="unavailable" from="{_jid(pick)}"/>'
    return f"<presence><status>{_text(pick)}</status><priority>{pick(9)}</priority></presence>"


def stanza(pick: Pick) -> str:
    """One well-formed top-level element of the ConnectyCube vocabulary."""
    kind = pick(7)
    if kind < 3:
        return _message(pick)
    if kind < 5:
        return _iq(pick)
    if kind == 5:
        return _presence(pick)
    return '<r xmlns="urn:xmpp:sm:3"/>'


_STREAM_HEADER = (
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    " version='1.0'>"
)


def mutate(pick: Pick, xml: str, raw: Callable[[], bytes] | None = None) -> bytes:
    """Break ``xml`` (or leave it alone) the way an attacker would; the result's bytes.

    ``raw`` supplies arbitrary bytes for the byte-level mutations (the fuzzer's remaining
    input); without it they use a fixed invalid UTF-8 sequence.
    """
    how = pick(14)
    tags = [i for i in range(len(xml)) if xml[i] == "<" and xml[i + 1 : i + 2] not in ("/", "!")]
    at = tags[pick(len(tags))] if tags else 0
    if how == 0:  # undeclared prefix on an element name
        end = at + 1
        while end < len(xml) and xml[end] not in " />":
            end += 1
        name = xml[at + 1 : end]
        close = xml.rfind(f"</{name}>")
        if close > at:
            xml = xml[:close] + f"</foo:{name}>" + xml[close + len(name) + 3 :]
        xml = xml[:at] + "<foo:" + xml[at + 1 :]
    elif how == 1:  # undeclared prefix on an attribute
        space = xml.find(" ", at)
        if 0 < space < xml.find(">", at):
            xml = xml[:space] + ' bar:x="1"' + xml[space:]
    elif how == 2:  # a second stream header in the middle of the stream
        xml = _STREAM_HEADER + xml if pick(2) else xml[:at] + _STREAM_HEADER + xml[at:]
    elif how == 3 and not xml.startswith("<r "):  # a content-namespace non-stanza name
        first = xml.find(" ")
        name_end = min(i for i in (first, xml.find(">"), xml.find("/")) if i > 0)
        name = xml[1:name_end]
        xml = "<pubsub" + xml[name_end:]
        if xml.endswith(f"</{name}>"):
            xml = xml[: -len(name) - 3] + "</pubsub>"
    elif how == 4:  # fan-out
        inner = "<a/>" * (1 + pick(4) * 400)
        xml = _inject(xml, inner)
    elif how == 5:  # nesting
        depth = 1 + pick(40)
        xml = _inject(xml, "<n>" * depth + "</n>" * depth)
    elif how == 6:  # many attributes on one element
        attrs = "".join(f' a{i}="{i}"' for i in range(pick(80)))
        xml = xml.replace(">", attrs + ">", 1) if not xml.startswith("<r ") else xml
    elif how == 7:  # many text runs and character references
        xml = _inject(xml, "<body>" + "x&amp;&#233;" * (1 + pick(2000)) + "</body>")
    elif how == 8:  # a byte-level cut
        return xml.encode()[: pick(len(xml.encode()) + 1)]
    elif how == 9:  # raw bytes spliced in
        data = xml.encode()
        cut = pick(len(data) + 1)
        return data[:cut] + (raw() if raw is not None else b"\xff\xfe") + data[cut:]
    elif how == 10:  # an element of no namespace
        xml = xml.replace(">", ' xmlns="">', 1) if pick(2) else xml
    # 11-13: unchanged (most inputs stay valid, so acceptance is exercised too)
    return xml.encode()


def _inject(xml: str, inner: str) -> str:
    """``inner`` as the last content of the top-level element."""
    if xml.endswith("/>") and xml.count("<") == 1:
        return xml[:-2] + ">" + inner + "</" + xml[1:].split()[0].rstrip("/>") + ">"
    close = xml.rfind("</")
    if close < 0:
        return xml
    return xml[:close] + inner + xml[close:]
