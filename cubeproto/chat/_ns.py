"""Namespaces and precomputed Clark names of the chat vocabulary.

Inbound classification compares ``element.tag`` strings against these constants (one
dictionary lookup per child) instead of calling ``find``/``xpath`` per feature.
"""

from __future__ import annotations

CLIENT = "jabber:client"
CHATSTATES = "http://jabber.org/protocol/chatstates"
MARKERS = "urn:xmpp:chat-markers:0"
CORRECT = "urn:xmpp:message-correct:0"
DELETE = "urn:xmpp:message-delete:0"
CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
DELAY = "urn:xmpp:delay"
LEGACY_DELAY = "jabber:x:delay"
MUC = "http://jabber.org/protocol/muc"
MUC_USER = "http://jabber.org/protocol/muc#user"
CONFERENCE = "jabber:x:conference"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
LAST = "jabber:iq:last"
PRIVACY = "jabber:iq:privacy"
STATUS_STREAMING = "https://connectycube.com/protocol/status_streaming"
MOBILE = "http://tigase.org/protocol/mobile#v2"
CSI = "urn:xmpp:csi:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
RECEIPTS = "urn:xmpp:receipts"


def clark(ns: str, local: str) -> str:
    """``{ns}local``, lxml's tag form."""
    return f"{{{ns}}}{local}"


def local_name(tag: str) -> str:
    """The local part of a Clark name (``{ns}x`` -> ``x``; ``x`` -> ``x``)."""
    if tag[:1] == "{":
        return tag[tag.find("}") + 1 :]
    return tag


def namespace_of(tag: str) -> str:
    """The namespace of a Clark name; ``""`` for an un-namespaced tag."""
    if tag[:1] == "{":
        return tag[1 : tag.find("}")]
    return ""
