"""Stanza helpers the routing modules share: namespaces, finding a child whatever namespace
the framing gave it, serialization, and the marks offline storage adds."""

from __future__ import annotations

import re
import time

from lxml import etree

from cubeproto.server import NS_CLIENT, element_bytes

__all__ = [
    "NS_CARBONS",
    "NS_DELAY",
    "NS_DISCO_ITEMS",
    "NS_LAST",
    "NS_MOBILE",
    "NS_MUC",
    "NS_MUC_USER",
    "NS_PING",
    "NS_PRIVACY",
    "NS_STANZAS",
    "NS_STATUS",
    "body_text",
    "child_named",
    "into_client_namespace",
    "local_name",
    "message_id_of",
    "name_ok",
    "to_xml",
    "with_delay",
]

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_CARBONS = "urn:xmpp:carbons:2"
NS_PRIVACY = "jabber:iq:privacy"
NS_LAST = "jabber:iq:last"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_MOBILE = "http://tigase.org/protocol/mobile#v2"
NS_STATUS = "https://connectycube.com/protocol/status_streaming"
NS_DELAY = "urn:xmpp:delay"
NS_PING = "urn:xmpp:ping"


def local_name(tag: object) -> str:
    """An element tag without its namespace (``""`` for comments and the like)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def child_named(element: etree._Element, local: str) -> etree._Element | None:
    """The first child of ``element`` named ``local``, in any namespace."""
    for child in element:
        if local_name(child.tag) == local:
            return child
    return None


def into_client_namespace(element: etree._Element) -> None:
    """Put un-namespaced elements of a stanza into ``jabber:client``: a WebSocket client may
    omit the namespace, and a stanza the hub forwards (carbons, offline storage) must carry
    it wherever it is embedded."""
    for node in element.iter():
        if isinstance(node.tag, str) and not node.tag.startswith("{"):
            node.tag = f"{{{NS_CLIENT}}}{node.tag}"


def body_text(element: etree._Element) -> str | None:
    """The text of a stanza's ``<body>``, whatever namespace the framing gave it (the
    WebSocket framing's stanzas may carry none)."""
    body = child_named(element, "body")
    return None if body is None else (body.text or "")


def to_xml(element: etree._Element) -> str:
    """An element serialized as the stream writes it."""
    return element_bytes(element).decode()


def name_ok(name: str) -> bool:
    """Whether ``name`` can be an element name (custom keys the hub writes as elements)."""
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c in "_-." for c in name)
    )


_MESSAGE_ID = re.compile(r'<message\b[^>]*?\sid="([^"]*)"')


def message_id_of(xml: str) -> str | None:
    """The ``id`` attribute of a serialized ``<message>`` (its start tag only)."""
    match = _MESSAGE_ID.match(xml)
    return match.group(1) if match else None


def with_delay(xml: str, now: float) -> str:
    """Mark a stored message with XEP-0203 ``<delay/>`` (offline delivery)."""
    if "urn:xmpp:delay" in xml or not xml.startswith("<message"):
        return xml
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    end = xml.rfind("</message>")
    if end < 0:
        return xml
    return xml[:end] + f'<delay xmlns="{NS_DELAY}" stamp="{stamp}"/>' + xml[end:]
