"""XML written exactly: the outbound half of the XML layer's rules.

:func:`escape_text` and :func:`escape_attr` escape values for character data and
double-quoted attribute values so that the peer reads back exactly what was meant, and
refuse what XML 1.0 forbids (the parser, ``_xmlstream.py``, refuses the same characters
inbound); :func:`element_bytes` serializes a parsed element with the namespace
declarations it needs.  Performs no I/O.
"""

from __future__ import annotations

import re

from lxml import etree

from .errors import LocalProtocolError

__all__ = ["XML_FORBIDDEN", "element_bytes", "escape_attr", "escape_text"]

#: Characters XML 1.0 forbids (section 2.2 Char): C0 controls other than tab, LF and CR,
#: surrogates (lone ones can exist in a Python str), U+FFFE and U+FFFF.  Public for the
#: layers that refuse such a value before it reaches a stanza (the local server's REST).
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _refuse_forbidden(value: str) -> None:
    if not isinstance(value, str):
        raise LocalProtocolError(f"expected str, got {type(value).__name__}")
    found = XML_FORBIDDEN.search(value)
    if found is not None:
        raise LocalProtocolError(
            f"U+{ord(found.group()):04X} cannot be sent: XML 1.0 forbids it (section 2.2)"
        )


def escape_text(value: str) -> str:
    """Escape ``value`` for use as character data: ``&``, ``<`` and ``>`` become entity
    references and CR becomes ``&#13;`` (a raw CR would be turned into LF by the reader's
    end-of-line handling, XML 1.0 section 2.11).  Raises
    :class:`~cubeproto.errors.LocalProtocolError` for characters XML 1.0 forbids."""
    _refuse_forbidden(value)
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


def escape_attr(value: str) -> str:
    """Escape ``value`` for use inside a double-quoted attribute value: ``&``, ``<``,
    ``>`` and ``"`` become entity references and tab, LF and CR become ``&#9;``,
    ``&#10;`` and ``&#13;`` so they survive attribute-value normalisation (XML 1.0 section
    3.3.3).  Raises :class:`~cubeproto.errors.LocalProtocolError` for characters XML 1.0
    forbids."""
    _refuse_forbidden(value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


#: The form of the prefixes lxml invents when it detaches an element that used a namespace
#: declared as the default on an ancestor (here: the stream root's ``jabber:client``).
_GENERATED_PREFIX = re.compile(r"ns[0-9]+\Z")


def element_bytes(element: etree._Element) -> bytes:
    """The exact UTF-8 serialization of ``element`` (typically a parsed one, kept as the raw
    form of a stanza that could not be understood), without its tail text.

    The element carries the namespace declarations it needs.  When a top-level element is
    detached from the stream root, lxml re-declares the root's default namespace on it under
    an invented prefix (``<ns0:message xmlns:ns0="jabber:client">``); this writes the
    original, equivalent ``<message xmlns="jabber:client">`` form instead whenever that is
    provably the same document (no attribute in that namespace, no un-namespaced
    descendant, no nested default declaration in the way).
    """
    raw = etree.tostring(element, encoding="utf-8", with_tail=False)
    nsmap = element.nsmap
    if None in nsmap or b"<![CDATA[" in raw:
        return raw
    for prefix, uri in nsmap.items():
        if prefix is not None and _GENERATED_PREFIX.match(prefix):
            if _default_rewrite_safe(element, prefix, uri):
                p = prefix.encode("ascii")
                raw = raw.replace(b"<" + p + b":", b"<").replace(b"</" + p + b":", b"</")
                end = raw.index(b">")
                head = raw[:end].replace(b" xmlns:" + p + b'="', b' xmlns="', 1)
                return head + raw[end:]
            break
    return raw


def _default_rewrite_safe(element: etree._Element, prefix: str, uri: str) -> bool:
    """Whether declaring ``uri`` as the default namespace on ``element`` instead of under
    ``prefix`` keeps every name in its namespace."""
    attr_ns = "{" + uri + "}"
    for node in element.iter():
        for key in node.attrib:
            if str(key).startswith(attr_ns):
                return False
        if node.prefix == prefix or node.prefix is None:
            if node.nsmap.get(None) is not None:
                if node.prefix == prefix:
                    return False  # a nested default namespace would capture it
            elif node.prefix is None and not str(node.tag).startswith("{"):
                return False  # un-namespaced: the new default would capture it
    return True
