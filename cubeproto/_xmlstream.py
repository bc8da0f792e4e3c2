"""The hardened XML layer: an incremental XMPP stream parser and RFC 7395 frames.

Inbound, :class:`XmlStreamParser` turns the bytes of one XML stream (one per TCP/TLS
stream; a fresh one at every restart after STARTTLS and SASL) into, in order, one
:class:`StreamHeader`, each complete top-level element, and a :class:`StreamFooter`.
:func:`parse_frame` does the same for one RFC 7395 WebSocket message.  The outbound half
of the same rules (:func:`escape_text`, :func:`escape_attr`, :func:`element_bytes`: XML
that the peer reads back exactly, never a character XML 1.0 forbids) is ``_xmlescape.py``,
re-exported here.

Hardening (RFC 6120 section 11; what it means for users is ``docs/security.rst``):

* **Restricted XML** (RFC 6120 section 11.1).  The raw bytes are scanned *before* lxml sees
  them: ``<!`` that does not open ``<![CDATA[`` (DOCTYPE, ENTITY, comments, ...), ``<?``
  after the XML declaration (processing instructions) and entity references other than the
  five predefined ones (``&name;``) end the stream with ``restricted-xml``.  Numeric
  character references are legal XML and are left to lxml, which checks them.  Tokens split
  across ``feed()`` calls are held back (at most nine bytes) until they can be judged.
  CDATA sections are allowed and tracked, so ``<!--`` or ``&x;`` *inside* CDATA is text,
  not a false positive.  lxml runs with ``resolve_entities=False``, ``no_network=True``,
  ``load_dtd=False``, ``huge_tree=False`` and ``collect_ids=False`` as a second line: it
  never sees a DTD, so nothing is ever expanded, loaded or fetched.
* **Bounded memory.**  Bytes go to lxml in slices of at most :data:`SLICE_BYTES`, never more
  than the current top-level element may still take, so a 100 MB stanza (or one 100 MB
  ``feed()`` call) is refused after ``max_stanza_bytes``.  The count is exact: where an
  element starts inside a slice is found from the start events lxml reported and the
  ``<`` bytes of the slice (every ``<`` outside CDATA is markup).  NUL bytes are refused
  before lxml sees them (libxml2's push parser can stall on a NUL inside CDATA).  Each
  completed top-level element is detached from the root and whitespace between elements
  is dropped, so memory stays flat over a stream of any length.
* **Linear cost.**  A top-level element is detached from the root in time linear in its
  size whatever its shape: lxml's ``remove`` re-declares namespaces node by node through a
  cache that grows with every node (quadratic: 100,000 ``<a/>`` siblings took seconds), so
  an element of more than :data:`_COPY_ABOVE` elements is deep-copied (linear) and the
  original, which then has no Python proxy left, is freed without that fix-up.
* **Limits** (:class:`XmlLimits`) end the stream with ``policy-violation``.  The tree of a
  top-level element is checked against the text and attribute limits only when the raw
  bytes could hide a breach (``_xmllimits.LimitWatch``).
* **Stream structure.**  A second ``<stream:stream>`` inside the stream is ``bad-format``
  and an element of the content namespace other than ``<message/>``, ``<presence/>`` and
  ``<iq/>`` (or of the streams namespace other than ``<features/>`` and ``<error/>``) is
  ``unsupported-stanza-type`` (see :func:`_refuse_top_level`).  With ``stanzas_only`` (what
  the connections use) an element at depth 1 still open at the end of a slice is judged
  there, so it can never swallow the stanzas after it; a complete one is judged by the
  connection with :func:`top_level_fault` when it finds no handler for it (the connection
  reads every tag anyway: judging it here would cost a tag string per stanza).  Elements
  of other namespaces (XEP-0198, SASL, STARTTLS, ...) are left to the connection.
* **Encodings.**  Only UTF-8 (RFC 6120 section 11.6).  An XML declaration naming another
  encoding, a UTF-16/UTF-32 byte order mark or zero bytes in the first characters, and byte
  sequences that are not UTF-8 end the stream with ``unsupported-encoding``: RFC 6120
  section 4.9.3.22 names that condition for a stream "improperly encoded ... (e.g., by
  violating the rules of the [UTF-8] encoding)".
* **Undeclared namespace prefixes** (``<p:x/>``, ``<x p:a='1'/>``) end the stream with
  ``bad-namespace-prefix`` (RFC 6120 sections 11.2 and 4.9.3.2), in the stream parser and
  in :func:`parse_frame` alike.  libxml2 tolerates them (``<p:x/>`` becomes an element
  named ``"p:x"`` in no namespace) but logs a namespace error while it parses the start
  tag; the stream parser reads lxml's ``feed_error_log`` once per slice (no tree walk, no
  per-element work) and only in a slice that logged one does it look at each start tag to
  find the culprit, so the stream ends at that element's start tag however the bytes were
  split.  Other namespace errors (``xmlns:p=""``, rebinding ``xml``) are
  ``not-well-formed``; no start tag shows them, so they end the stream after the elements
  that completed in the same slice.
* **Everything else** that is not well-formed ends the stream with ``not-well-formed``
  (RFC 6120 section 4.9.3.13 covers [XML] and [XML-NAMES]).
* Character data other than whitespace between top-level elements is well-formed XML but
  not an XMPP stream: ``bad-format`` (section 4.9.3.1).  A root other than
  ``{http://etherx.jabber.org/streams}stream``: ``invalid-namespace`` (4.9.3.10).

Bad peer input only ever surfaces as :class:`XmlStreamError`; no lxml exception escapes.
This module performs no I/O.

Why one module of about 1,250 lines: the byte scanner (``_scan`` and the ``_has_*``
checks), the stream header check (``_header_end``), the slicing in
:class:`XmlStreamParser` and :func:`parse_frame` share one set of invariants about byte
offsets, held-back tokens, CDATA spans and what lxml has already seen; each hardening
point above is argued across them, and a reviewer checking one hostile input needs all of
them in view.  What does not share them lives beside it: the outbound escaping
(``_xmlescape.py``) and the watch on the raw bytes that decides when the tree must be
checked against the limits (``_xmllimits.py``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Union, cast

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

from lxml import etree

from ._xmlescape import element_bytes, escape_attr, escape_text
from ._xmllimits import LimitWatch, run_threshold
from .errors import LocalProtocolError, RemoteProtocolError, StreamErrorCondition

__all__ = [
    "NS_CLIENT",
    "NS_FRAMING",
    "NS_STREAM",
    "SLICE_BYTES",
    "StreamFooter",
    "StreamHeader",
    "XmlLimits",
    "XmlStreamError",
    "XmlStreamParser",
    "element_bytes",
    "escape_attr",
    "escape_text",
    "parse_frame",
    "top_level_fault",
]

NS_STREAM: Final = "http://etherx.jabber.org/streams"
NS_CLIENT: Final = "jabber:client"
NS_FRAMING: Final = "urn:ietf:params:xml:ns:xmpp-framing"

_STREAM_TAG: Final = "{" + NS_STREAM + "}stream"

#: Largest piece of input handed to lxml at once.  Limits are checked between slices, so
#: this bounds how far past a limit lxml can ever be made to buffer.
SLICE_BYTES: Final = 64 * 1024

_C = StreamErrorCondition


@dataclass(frozen=True, slots=True, kw_only=True)
class XmlLimits:
    """How much XML one peer may make us hold.  Exceeding any limit: ``policy-violation``
    (RFC 6120 section 4.9.3.14: "a stanza exceeds a configured size limit"), each with
    its own text naming the limit.

    Every limit is exact for well-formed input, however the bytes are split: a value at
    the limit is accepted, one more is refused.  (Bytes that libxml2 has not yet found to
    be malformed can overrun ``max_stanza_bytes`` by at most one slice, :data:`SLICE_BYTES`,
    before the stream ends.)
    """

    #: Bytes of one top-level element, from its ``<`` to its final ``>`` (whitespace between
    #: elements is not counted), and of one WebSocket message.  Prosody's default
    #: ``c2s_stanza_size_limit`` is 256 KiB and its ``s2s_stanza_size_limit`` 512 KiB; a
    #: client receives stanzas that crossed server-to-server links, so it accepts the larger.
    #: (ejabberd's example configuration uses ``max_stanza_size: 262144`` for c2s.)
    max_stanza_bytes: int = 512 * 1024
    #: Element nesting inside one top-level element (the top-level element is depth 1).
    #: libxml2 itself stops at 256 (``xmlParserMaxDepth`` without XML_PARSE_HUGE); the
    #: deepest ConnectyCube shape (a message forwarded as a carbon, whose ``extraParams``
    #: hold dictionaries nested as elements) is under 10.
    max_depth: int = 32
    #: Attributes of one element (namespace declarations are not attributes).  The JDK's
    #: ``jdk.xml.elementAttributeLimit`` is 10,000; an XMPP element carries at most ~12
    #: (a ConnectyCube ``<attachment/>`` holds every attachment property as an attribute).
    max_attributes: int = 64
    #: Characters of one attribute value.  A JID is at most 3071 bytes (RFC 7622 section
    #: 3.1: three 1023-byte parts); the longest legitimate values are application-defined
    #: attachment ``url``/``data`` attributes, which the Flutter SDK percent-encodes (up to
    #: 3x).  64 KiB is an eighth of the stanza budget.
    max_attribute_length: int = 64 * 1024
    #: Characters of one text node (text between two tags, CDATA included).  256 KiB is
    #: Prosody's whole-stanza limit for clients: no text a client could have put into a
    #: stanza through such a server is longer.
    max_text_length: int = 256 * 1024
    #: Bytes of the XML declaration plus the ``<stream:stream ...>`` opening tag.  h11 allows
    #: 16 KiB for a whole HTTP header block (``DEFAULT_MAX_INCOMPLETE_EVENT_SIZE``); a stream
    #: header is a handful of short attributes, typically under 300 bytes.
    max_header_bytes: int = 8 * 1024
    #: Elements in one top-level element, itself included.  Bounds the work per stanza
    #: whatever its shape (512 KiB of ``<a/>`` is 131,072 elements).  A ConnectyCube
    #: message with extraParams and a few attachments has under 50; the largest real
    #: stanzas are IQ results listing items (a roster or a MUC member list: one to three
    #: elements per entry), so 16,384 leaves room for lists of several thousand entries.
    #: Checked when each top-level element ends and at the end of each slice (not per
    #: element, which would tax every stanza): lxml builds at most one slice more.
    max_elements: int = 16 * 1024

    def __post_init__(self) -> None:
        for name in (
            "max_stanza_bytes",
            "max_depth",
            "max_attributes",
            "max_attribute_length",
            "max_text_length",
            "max_header_bytes",
            "max_elements",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise LocalProtocolError(f"XmlLimits.{name} must be a positive int: {value!r}")
        if self.max_stanza_bytes < 64:
            raise LocalProtocolError("XmlLimits.max_stanza_bytes must be at least 64")
        if self.max_header_bytes < 64:
            raise LocalProtocolError("XmlLimits.max_header_bytes must be at least 64")


_DEFAULT_LIMITS: Final = XmlLimits()


class XmlStreamError(RemoteProtocolError):
    """Raised by the parser when the peer's XML must end the stream.

    ``condition`` is the RFC 6120 stream error condition to send, ``text`` a human-readable
    reason.  ``items`` holds what completed in the failing call *before* the fault, in
    order (for example a ``<stream:error/>`` that arrived just before garbage); the parser
    is dead afterwards and every later ``feed`` raises an equal error with empty ``items``.
    The WebSocket framing puts the items of the frames before a faulty one there too, so
    ``items`` is typed loosely: each is an item of whatever raised it.
    """

    def __init__(
        self,
        condition: StreamErrorCondition,
        text: str = "",
        items: tuple[object, ...] = (),
    ) -> None:
        super().__init__(condition, text)
        self.items = items

    def __repr__(self) -> str:
        return f"XmlStreamError({self.condition!r}, {self.text!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamHeader:
    """The peer's ``<stream:stream ...>`` opening tag arrived.

    ``attributes`` are Clark-named (``"to"``, ``"from"``, ``"id"``, ``"version"``,
    ``"{http://www.w3.org/XML/1998/namespace}lang"``); ``default_namespace`` is the
    ``xmlns="..."`` declared on the header (normally ``jabber:client``), or None.
    """

    name: str
    attributes: Mapping[str, str]
    default_namespace: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamFooter:
    """``</stream:stream>`` arrived: the peer closed its stream."""


StreamItem = Union[StreamHeader, StreamFooter, "etree._Element"]

# --- byte-level scanners ----------------------------------------------------------------

#: A restricted-XML token, or the start of a CDATA section (told apart by the caller):
#: ``<!`` / ``<?`` / an entity reference to a name other than the predefined five.
_RESTRICTED = re.compile(rb"<[!?]|&(?!(?:amp|lt|gt|quot|apos);)[A-Za-z_:\x80-\xff]")
#: A suffix that may still become a restricted token or a CDATA opener: held back.
_HOLD = re.compile(rb"(?:<(?:!(?:\[(?:C(?:D(?:A(?:T(?:A)?)?)?)?)?)?)?|&[A-Za-z]{0,4})\Z")
#: Inside CDATA, a suffix that may become ``]]>``.
_HOLD_CDATA = re.compile(rb"\]{1,2}\Z")
_CDATA_OPEN: Final = b"<![CDATA["
_CDATA_CLOSE: Final = b"]]>"
#: A prefixed element name: ``<p:`` or ``</p:``.
_PREFIXED_TAG = re.compile(rb"</?[^\s/>!?<:=\"']+:")
#: The ``:name=`` of a prefixed attribute name (its prefix is checked separately).
_PREFIXED_ATTR = re.compile(rb":[^\s=<>/\"':]+\s*=")
_WS_OR_QUOTE: Final = b" \t\r\n\"'"
#: The rest of a tag after its ``<``, quote-aware (``>`` may appear in attribute values,
#: ``<`` may not).
_TAG_REST = re.compile(rb"""[^"'<>]*(?:(?:"[^"<]*"|'[^'<]*')[^"'<>]*)*>""")
_WS: Final = " \t\r\n"
_WS_BYTES: Final = b" \t\r\n"
_XML_DECL = re.compile(
    rb"""<\?xml\s+version\s*=\s*(?:'1\.[0-9]+'|"1\.[0-9]+")"""
    rb"""(?:\s+encoding\s*=\s*(?:'([A-Za-z][A-Za-z0-9._-]*)'|"([A-Za-z][A-Za-z0-9._-]*)"))?"""
    rb"""(?:\s+standalone\s*=\s*(?:'(?:yes|no)'|"(?:yes|no)"))?\s*\?>"""
)
_UTF8_BOM: Final = b"\xef\xbb\xbf"
#: First bytes of streams in UTF-16 / UTF-32 / EBCDIC (XML 1.0 appendix F).
_FOREIGN_SIGNATURES: Final = (
    b"\xfe\xff",
    b"\xff\xfe",
    b"\x00\x00\xfe\xff",
    b"\x00\x00\x00<",
    b"<\x00\x00\x00",
    b"\x00<",
    b"<\x00",
    b"\x4c\x6f\xa7\x94",
)


def _new_lxml_parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start", "end"),
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        collect_ids=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
    )


def _events(parser: etree.XMLPullParser) -> Iterator[tuple[str, etree._Element]]:
    """The parser's pending events; with events=("start", "end") each carries an element."""
    return cast("Iterator[tuple[str, etree._Element]]", parser.read_events())


def _lxml_error(exc: Exception) -> XmlStreamError:
    """Map an lxml/libxml2 failure to the stream error condition it deserves."""
    code = getattr(exc, "code", None)
    types = etree.ErrorTypes
    if code in (
        types.ERR_INVALID_ENCODING,
        types.ERR_UNSUPPORTED_ENCODING,
        types.ERR_UNKNOWN_ENCODING,
    ):
        condition = _C.UNSUPPORTED_ENCODING
    elif code == types.ERR_RESOURCE_LIMIT:
        condition = _C.POLICY_VIOLATION
    elif code == types.NS_ERR_UNDEFINED_NAMESPACE:
        condition = _C.BAD_NAMESPACE_PREFIX
    else:
        condition = _C.NOT_WELL_FORMED
    return XmlStreamError(condition, str(exc) or type(exc).__name__)


def _policy(text: str) -> XmlStreamError:
    return XmlStreamError(_C.POLICY_VIOLATION, text)


#: A top-level element with more elements than this is detached by a deep copy (linear)
#: instead of lxml's ``remove`` (whose namespace fix-up is quadratic in the element count;
#: below this size it is the cheaper of the two: about 29 us each for 256 flat children).
_COPY_ABOVE: Final = 256


def _too_many_elements(limit: int) -> XmlStreamError:
    return _policy(f"more than {limit} elements in one top-level element")


_STANZA_NAMES: Final = ("message", "presence", "iq")
#: Content namespaces: their only first-level elements are the three stanzas.
_CONTENT_NAMESPACES: Final = frozenset({NS_CLIENT, "jabber:server"})


def _top_level_ok(content_ns: str | None) -> frozenset[str]:
    """Tags accepted at depth 1 without a closer look: the stanzas (qualified by the
    content namespace, or bare, which the connection reads as jabber:client stanzas) and
    ``<stream:features/>`` / ``<stream:error/>``.  Anything else goes to
    :func:`_refuse_top_level`."""
    names = set(_STANZA_NAMES)
    for ns in _CONTENT_NAMESPACES | ({content_ns} if content_ns else set()):
        names |= {f"{{{ns}}}{name}" for name in _STANZA_NAMES}
    names |= {f"{{{NS_STREAM}}}features", f"{{{NS_STREAM}}}error"}
    return frozenset(names)


_TOP_LEVEL_CLIENT: Final = _top_level_ok(NS_CLIENT)


def top_level_fault(tag: object, content_ns: str | None = NS_CLIENT) -> XmlStreamError | None:
    """The stream error for a complete element at depth 1 whose tag is ``tag`` (None when
    it may be there: a stanza, features, error, or a nonza of another namespace).  The
    connections call it for every top-level element that is not a stanza; see
    :func:`_refuse_top_level` for the conditions."""
    if tag in _TOP_LEVEL_CLIENT:
        return None
    try:
        _refuse_top_level(tag, content_ns)
    except XmlStreamError as exc:
        return exc
    return None


def _refuse_top_level(tag: object, content_ns: str | None) -> None:
    """Raise if ``tag``, the tag of an element at depth 1 that is not a stanza, features
    or error, may not be there; return for an extension nonza (another namespace).

    The conditions (RFC 6120):

    * A second ``<stream:stream>`` inside the stream: ``bad-format`` (4.9.3.1, "XML that
      cannot be processed").  The stream header opens the stream once (4.2, 4.3: a restart
      is a *new* stream after the old one is discarded); a nested one is not an unknown
      first-level child but a broken stream structure, and processing it would make every
      later stanza its child.
    * An element of the content namespace (``jabber:client``) other than message, presence
      and iq, or of the streams namespace other than features and error:
      ``unsupported-stanza-type`` (4.9.3.24, "a first-level child of the stream that is not
      supported"; section 8 defines exactly three stanzas for jabber:client and
      jabber:server).  The same for an element in no namespace (only a bare stanza is read
      as one).  Not bad-format: the element is well-formed and in its place structurally,
      only its kind is unknown -- the case 4.9.3.24 names.
    * A name with an undeclared prefix: ``bad-namespace-prefix`` (4.9.3.2, 11.2).
    """
    if not isinstance(tag, str):  # comments/PIs never reach lxml
        raise XmlStreamError(_C.RESTRICTED_XML, "comment or processing instruction")
    if tag[0] != "{":
        if ":" in tag:
            raise XmlStreamError(_C.BAD_NAMESPACE_PREFIX, f"undeclared namespace prefix: <{tag}>")
        raise XmlStreamError(
            _C.UNSUPPORTED_STANZA_TYPE, f"<{tag}/> in no namespace is not a stanza"
        )
    ns, _, local = tag[1:].partition("}")
    if ns == NS_STREAM:
        if local == "stream":
            raise XmlStreamError(_C.BAD_FORMAT, "a stream header inside the stream")
        raise XmlStreamError(
            _C.UNSUPPORTED_STANZA_TYPE, f"<stream:{local}/> is not a first-level element"
        )
    if ns == content_ns or ns in _CONTENT_NAMESPACES:
        raise XmlStreamError(_C.UNSUPPORTED_STANZA_TYPE, f"<{local}/> is not a stanza of {ns}")


def _detach_by_copy(root: etree._Element, out: list[StreamItem], big: list[int]) -> None:
    """Detach the large top-level elements at ``out[i]`` for ``i`` in ``big`` (still the
    first children of ``root``, in order) in time linear in their size.

    lxml's ``remove()`` re-declares the namespaces of the moved subtree node by node
    through a cache that grows with every node: quadratic (100,000 ``<a/>`` siblings in a
    ``<message/>`` took seconds).  A deep copy is linear, and the original, once no Python
    proxy of it or its descendants is left (the caller has finished reading lxml's events,
    which hold them), is freed by ``del`` without that fix-up.  If a proxy is still alive
    somewhere, lxml falls back to the fix-up: slower, never wrong.
    """
    for index in big:
        original = out[index]
        assert isinstance(original, etree._Element)
        if root[0] is not original:  # pragma: no cover - earlier ones were removed in order
            root.remove(original)
            continue
        dup = copy.deepcopy(original)
        dup.tail = None
        out[index] = dup
        original = None  # type: ignore[assignment]
        del root[0]  # its tail goes with it


def _until_undeclared_prefix(
    events: Iterable[tuple[str, etree._Element]],
) -> tuple[list[tuple[str, etree._Element]], XmlStreamError | None]:
    """The events before the first start tag with an undeclared prefix, and the error
    for that tag (None if there is none).  Only for slices whose log reported a namespace
    error (or every slice once the log cannot be trusted): the common path never looks."""
    kept: list[tuple[str, etree._Element]] = []
    for item in events:
        if item[0] == "start":
            culprit = _undeclared_prefix(item[1])
            if culprit is not None:
                return kept, XmlStreamError(
                    _C.BAD_NAMESPACE_PREFIX, f"undeclared namespace prefix: {culprit}"
                )
        kept.append(item)
    return kept, None


def _undeclared_prefix(element: etree._Element) -> str | None:
    """The first name on ``element`` (its tag or an attribute's) that has a prefix but no
    namespace: lxml keeps an undeclared ``p:name`` as is, in no namespace."""
    tag = element.tag
    if isinstance(tag, str) and tag[0] != "{" and ":" in tag:
        return f"<{tag}>"
    for key in element.attrib:
        if key[0] != "{" and ":" in key:
            return f"attribute {key!r} on <{tag}>"
    return None


def _namespace_fault(entries: list[etree._LogEntry]) -> XmlStreamError | None:
    """The stream error for the first violation of [XML-NAMES] among new log entries
    (libxml2 recovers from those and lxml only logs them): an undeclared prefix is
    ``bad-namespace-prefix``, the others (``xmlns:p=""``, rebinding ``xml``, ``a:`` as a
    name, one attribute twice through two prefixes) ``not-well-formed``.  A namespace name
    that is not an absolute URI is only a warning in [XML-NAMES]: not a fault."""
    for entry in entries:
        kind = entry.type
        if kind == _NS_UNDEFINED:
            return XmlStreamError(_C.BAD_NAMESPACE_PREFIX, entry.message)
        if kind in _NS_NOT_WELL_FORMED:
            return XmlStreamError(_C.NOT_WELL_FORMED, entry.message)
    return None


_NS_UNDEFINED: Final = int(etree.ErrorTypes.NS_ERR_UNDEFINED_NAMESPACE)
_NS_NOT_WELL_FORMED: Final = frozenset(
    int(getattr(etree.ErrorTypes, name))
    for name in (
        "NS_ERR_XML_NAMESPACE",
        "NS_ERR_QNAME",
        "NS_ERR_ATTRIBUTE_REDEFINED",
        "NS_ERR_EMPTY",
        "NS_ERR_COLON",
    )
)
#: libxml2 stops reporting after 100 errors and 100 warnings of one parse, and namespace
#: URI warnings (``xmlns:p="rel"``) are not faults, so a peer could fill the log with them
#: and hide an undeclared prefix.  From this many entries on, every start tag is checked.
_LOG_TRUSTED: Final = 50


def _check_tree(top: etree._Element, limits: XmlLimits, prefixes: bool) -> None:
    """Check every attribute and text node under ``top`` against ``limits`` and, when
    ``prefixes`` is set, every name for an undeclared prefix (lxml keeps those as
    ``"p:name"`` in no namespace, without raising)."""
    max_attrs = limits.max_attributes
    max_value = limits.max_attribute_length
    max_text = limits.max_text_length
    for node in top.iter():
        tag = node.tag
        if not isinstance(tag, str):  # comments/PIs cannot get here; be safe anyway
            raise XmlStreamError(_C.RESTRICTED_XML, "comment or processing instruction")
        if prefixes and tag[0] != "{" and ":" in tag:
            raise XmlStreamError(_C.BAD_NAMESPACE_PREFIX, f"undeclared namespace prefix: {tag}")
        attrib = node.attrib
        if len(attrib) > max_attrs:
            raise _policy(f"more than {max_attrs} attributes on <{tag}>")
        for key, value in attrib.items():
            if len(value) > max_value:
                raise _policy(f"attribute value longer than {max_value} characters")
            if prefixes and key[0] != "{" and ":" in key:
                raise XmlStreamError(
                    _C.BAD_NAMESPACE_PREFIX, f"undeclared namespace prefix: {key!r}"
                )
        text = node.text
        if text is not None and len(text) > max_text:
            raise _policy(f"text longer than {max_text} characters")
        if node is not top:
            text = node.tail
            if text is not None and len(text) > max_text:
                raise _policy(f"text longer than {max_text} characters")


def _scan_error(buf: bytes, bad: int) -> XmlStreamError:
    """The error for what :func:`_scan` found at ``bad``."""
    if buf[bad] == 0:
        return XmlStreamError(_C.NOT_WELL_FORMED, "NUL byte (not an XML character)")
    return XmlStreamError(
        _C.RESTRICTED_XML,
        "DTD, entity reference, comment or processing instruction (RFC 6120 11.1)",
    )


def _drop_root_text(root: etree._Element) -> None:
    """Free the character data lxml has collected between top-level elements (whitespace
    keepalives), so it cannot pile up; anything but XML whitespace there is not an XMPP
    stream: ``bad-format`` (RFC 6120 section 4.9.3.1)."""
    text = root.text
    root.text = None
    if text is not None and text.strip(_WS):
        raise XmlStreamError(_C.BAD_FORMAT, "text between top-level elements")


def _has_long_run(buf: bytes, threshold: int) -> bool:
    """Whether ``buf`` may hold ``threshold`` bytes in a row without a ``<``: any such run
    covers a whole aligned window of ``ceil(threshold / 2)`` bytes (memchr each window)."""
    step = (threshold + 1) // 2
    find = buf.find
    at = 0
    size = len(buf)
    while at + step <= size:
        if find(b"<", at, at + step) < 0:
            return True
        at += step
    return False


def _has_prefixed_name(buf: bytes) -> bool:
    """Whether ``buf`` may use a namespace prefix other than ``xml`` / ``xmlns`` (then a
    tree walk looks for undeclared ones)."""
    if _PREFIXED_TAG.search(buf) is not None:
        return True
    for found in _PREFIXED_ATTR.finditer(buf):
        at = found.start()
        if not (
            (buf.endswith(b"xml", 0, at) and buf[at - 4 : at - 3] in _WS_OR_QUOTE)
            or (buf.endswith(b"xmlns", 0, at) and buf[at - 6 : at - 5] in _WS_OR_QUOTE)
        ):
            return True
    return False


def _tag_complete(buf: bytes, lt: int) -> bool:
    """Whether the tag starting with ``<`` at ``lt`` ends inside ``buf``."""
    return _TAG_REST.match(buf, lt + 1) is not None


def _in_spans(pos: int, spans: list[tuple[int, int]]) -> bool:
    return any(start <= pos < end for start, end in spans)


_PREDEFINED_REFS: Final = (b"&amp;", b"&lt;", b"&gt;", b"&quot;", b"&apos;", b"&#")


def _scan(buf: bytes, in_cdata: bool) -> tuple[int, list[tuple[int, int]] | None, bool]:
    """Find restricted XML in ``buf`` (RFC 6120 section 11.1), skipping CDATA sections,
    and NUL bytes.

    ``in_cdata`` says whether ``buf`` starts inside a CDATA section.  Returns the offset of
    the first restricted token or NUL (or -1), the CDATA sections as ``(start, end)`` offsets (or
    None if there are none), and whether ``buf`` ends inside a CDATA section.  Uses only
    single-byte ``find`` (memchr) for the common case: ``!``, ``?`` and ``&`` are rare in
    XMPP traffic, and each hit is judged by its neighbours.
    """
    size = len(buf)
    spans: list[tuple[int, int]] | None = None
    pos = 0
    if in_cdata:
        close = buf.find(_CDATA_CLOSE)
        if close < 0:
            return buf.find(b"\x00"), [(0, size)], True
        spans = [(0, close + 3)]
        pos = close + 3
        in_cdata = False
    bad = -1
    # '<!': CDATA sections (recorded) or DOCTYPE/ENTITY/comment (restricted).
    at = buf.find(b"!", pos)
    while at >= 0:
        if at > 0 and buf[at - 1] == 0x3C:  # '<'
            if buf.startswith(b"[CDATA[", at + 1):
                if spans is None:
                    spans = []
                close = buf.find(_CDATA_CLOSE, at + 8)
                if close < 0:
                    spans.append((at - 1, size))
                    in_cdata = True
                    break
                spans.append((at - 1, close + 3))
                at = buf.find(b"!", close + 3)
                continue
            bad = at - 1
            break
        at = buf.find(b"!", at + 1)
    # '<?': processing instructions.
    at = buf.find(b"?", pos)
    while at >= 0 and (bad < 0 or at < bad):
        if at > 0 and buf[at - 1] == 0x3C and not (spans and _in_spans(at, spans)):
            bad = at - 1
            break
        at = buf.find(b"?", at + 1)
    # '&name;' other than the five predefined entities (numeric references are lxml's).
    at = buf.find(b"&", pos)
    while at >= 0 and (bad < 0 or at < bad):
        if not buf.startswith(_PREDEFINED_REFS, at):
            nxt = buf[at + 1 : at + 2]
            if (
                nxt
                and (nxt.isalpha() or nxt in b"_:" or nxt[0] >= 0x80)
                and not (spans and _in_spans(at, spans))
            ):
                bad = at
                break
        at = buf.find(b"&", at + 1)
    # NUL is never XML, and libxml2's push parser can stall on it (inside CDATA it stops
    # looking for "]]>"), so it is refused here, before lxml sees it.
    nul = buf.find(b"\x00", 0, bad if bad >= 0 else size)
    if nul >= 0:
        return nul, spans, in_cdata
    return bad, spans, in_cdata


# --- the stream parser ------------------------------------------------------------------


def _header_end(buf: bytes) -> int:
    """Where the stream opening tag ends in ``buf``, or -1 if it is not complete yet.

    Raises for a foreign encoding, a bad XML declaration, or restricted XML before the
    root.
    """
    for signature in _FOREIGN_SIGNATURES:
        if buf.startswith(signature):
            raise XmlStreamError(_C.UNSUPPORTED_ENCODING, "the stream is not encoded in UTF-8")
        if len(buf) < len(signature) and signature.startswith(buf):
            return -1  # cannot tell yet
    pos = 0
    if buf.startswith(_UTF8_BOM):
        pos = 3
    elif _UTF8_BOM.startswith(buf):
        return -1
    if buf.startswith(b"<?xml", pos) or b"<?xml".startswith(buf[pos : pos + 5]):
        if len(buf) - pos < 6:
            return -1
        if buf[pos + 5 : pos + 6] in (b" ", b"\t", b"\r", b"\n"):
            close = buf.find(b"?>", pos)
            if close < 0:
                return -1
            decl = _XML_DECL.fullmatch(buf, pos, close + 2)
            if decl is None:
                raise XmlStreamError(_C.NOT_WELL_FORMED, "malformed XML declaration")
            encoding = decl.group(1) or decl.group(2)
            if encoding is not None and encoding.lower() != b"utf-8":
                raise XmlStreamError(
                    _C.UNSUPPORTED_ENCODING,
                    f"unsupported encoding {encoding.decode('ascii')!r}",
                )
            pos = close + 2
    # Misc* then the root start tag.
    n = len(buf)
    while pos < n and buf[pos] in _WS_BYTES:
        pos += 1
    if pos >= n:
        return -1
    if buf[pos] != 0x3C:  # '<'
        raise XmlStreamError(_C.NOT_WELL_FORMED, "text before the stream header")
    if pos + 1 >= n:
        return -1
    nxt = buf[pos + 1]
    if nxt in b"!?":
        raise XmlStreamError(
            _C.RESTRICTED_XML,
            "DOCTYPE, comment or processing instruction before the stream header",
        )
    match = _TAG_REST.match(buf, pos + 1)
    if match is None:
        return -1
    end = match.end()
    found = _RESTRICTED.search(buf, pos, end)
    if found is not None:
        raise XmlStreamError(_C.RESTRICTED_XML, "entity reference in the stream header")
    return end


_HEADER: Final = 0
_BODY: Final = 1
_CLOSED: Final = 2
_DEAD: Final = 3


class XmlStreamParser:
    """One TCP/TLS XMPP stream: a document whose root is ``<stream:stream>``.

    A fresh parser per stream (and per restart after STARTTLS and SASL).  Feed it bytes as
    they arrive; it returns what completed.  Not thread-safe; performs no I/O.
    """

    __slots__ = (
        "_carry",
        "_content_ns",
        "_count",
        "_cur",
        "_cur_fix",
        "_depth",
        "_error",
        "_hbuf",
        "_header_bytes",
        "_in_cdata",
        "_limits",
        "_nlog",
        "_ns_every",
        "_parser",
        "_root",
        "_stanzas_only",
        "_state",
        "_suspect",
        "_top_ok",
        "_watch",
    )

    def __init__(self, limits: XmlLimits = _DEFAULT_LIMITS, *, stanzas_only: bool = False) -> None:
        """``stanzas_only``: refuse, at its start tag, every element at depth 1 that an XMPP
        stream cannot carry (see :func:`_refuse_top_level`); what the connections use.
        Without it only a nested ``<stream:stream>`` is refused there (``bad-format``), so
        the parser can be exercised with arbitrary element names."""
        if not isinstance(limits, XmlLimits):
            raise LocalProtocolError("limits must be an XmlLimits")
        self._limits = limits
        self._parser: etree.XMLPullParser | None = _new_lxml_parser()
        self._root: etree._Element | None = None
        #: The declaration and opening tag, to rebuild a released lxml parser.
        self._header_bytes = b""
        self._state = _HEADER
        self._error: XmlStreamError | None = None
        self._hbuf = b""
        self._carry = b""  # held-back suffix, not yet given to lxml
        self._in_cdata = False  # the bytes given to lxml end inside a CDATA section
        self._depth = 0  # open elements below the root (0: between top-level elements)
        self._cur = 0  # bytes given to lxml of the current, incomplete top-level element
        #: (slice, start tags, CDATA spans, _cur before it) while _cur is an upper bound
        self._cur_fix: tuple[bytes, int, list[tuple[int, int]] | None, int] | None = None
        self._suspect = False  # the current top-level element needs a full _check_tree
        self._watch = LimitWatch(limits)  # which slices need the tree checked
        self._count = 0  # elements so far in the current top-level element
        self._nlog = 0  # entries seen in lxml's feed_error_log
        self._ns_every = False  # the log may hide faults: check every start tag
        self._content_ns: str | None = NS_CLIENT  # the header's default namespace
        self._top_ok = _TOP_LEVEL_CLIENT  # tags accepted at depth 1 without a closer look
        self._stanzas_only = stanzas_only

    # -- public -----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[StreamHeader | StreamFooter | etree._Element]:
        """Parse more bytes; return what completed, in order.

        First the :class:`StreamHeader` (once), then each complete top-level element
        (detached from the root, so nothing accumulates), then the :class:`StreamFooter`.
        Whitespace between top-level elements (keepalives) is consumed silently, and so is
        whitespace after the footer; anything else after the footer is ``not-well-formed``.

        Raises :class:`XmlStreamError` when the stream must end; its ``items`` carry what
        completed in this call before the fault.  After that the parser is dead and every
        later ``feed`` raises an equal error.  No other exception escapes for any input.
        """
        if self._error is not None:
            raise XmlStreamError(self._error.condition, self._error.text)
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray)):
                raise LocalProtocolError("XmlStreamParser.feed takes bytes")
            data = bytes(data)
        out: list[StreamHeader | StreamFooter | etree._Element] = []
        try:
            if self._state == _BODY and data:
                end = self._body(data, 0, out)
                if self._state == _CLOSED:
                    self._feed_closed(data[end:], out)
            else:
                self._feed(data, out)
        except XmlStreamError as exc:
            self._state = _DEAD
            self._error = exc
            exc.items = tuple(out)
            raise
        return out

    def release_idle(self) -> bool:
        """Free lxml's parser context (about 10 KB of libxml2 memory) while the stream sits
        between top-level elements; the next :meth:`feed` rebuilds it transparently by
        replaying the stream header into a fresh parser.  Returns whether it was released
        (only between elements, with nothing held back).  For idle connections: a busy
        stream should keep its parser, since rebuilding costs tens of microseconds."""
        if (
            self._state != _BODY
            or self._parser is None
            or self._depth
            or self._cur  # a tag lxml has begun but not finished
            or self._carry
            or self._in_cdata
            or self._cur_fix is not None
        ):
            return False
        self._parser = None
        self._root = None
        return True

    def _revive(self) -> etree.XMLPullParser:
        """A fresh lxml parser positioned inside the stream root, as before the release."""
        parser = _new_lxml_parser()
        try:
            parser.feed(self._header_bytes)
        except (etree.LxmlError, ValueError, UnicodeError, MemoryError) as exc:  # pragma: no cover
            raise _lxml_error(exc) from None  # the same bytes parsed fine the first time
        for event, element in _events(parser):
            if event == "start":
                self._root = element
                break
        self._parser = parser
        self._nlog = len(parser.feed_error_log)
        return parser

    # -- internals ----------------------------------------------------------------------

    def _feed(self, data: bytes, out: list[StreamItem]) -> None:
        start = 0
        if self._state == _HEADER:
            start = self._header(data, out)
            if self._state == _HEADER:
                return
        if self._state == _BODY and start < len(data):
            start = self._body(data, start, out)
        if self._state == _CLOSED:
            self._feed_closed(data[start:], out)

    def _feed_closed(self, data: bytes, out: list[StreamItem]) -> None:
        """After the footer only whitespace may follow."""
        leftover = self._carry + data
        self._carry = b""
        if leftover.strip(_WS_BYTES):
            raise XmlStreamError(_C.NOT_WELL_FORMED, "data after the end of the stream")

    def _header(self, data: bytes, out: list[StreamItem]) -> int:
        """Collect and check the XML declaration and the stream opening tag.

        Returns how many bytes of ``data`` it consumed.  When the header completes, the
        bytes after it that were collected are handed on to :meth:`_body` here.
        """
        limit = self._limits.max_header_bytes
        room = limit + 1 - len(self._hbuf)
        taken = data[:room]
        buf = self._hbuf + taken
        end = _header_end(buf)
        if end < 0:
            if len(buf) > limit:
                raise _policy(f"stream header longer than {limit} bytes")
            self._hbuf = buf
            return len(taken)
        if end > limit:
            raise _policy(f"stream header longer than {limit} bytes")
        self._hbuf = b""
        self._header_bytes = buf[:end]
        self._feed_lxml(buf[:end])
        root: etree._Element | None = None
        assert self._parser is not None
        events = list(_events(self._parser))
        for event, element in events:
            if event == "start" and root is None:
                root = element
        if root is None:  # pragma: no cover - _header_end saw a complete start tag
            raise XmlStreamError(_C.NOT_WELL_FORMED, "no stream header")
        if root.tag != _STREAM_TAG:
            raise XmlStreamError(
                _C.INVALID_NAMESPACE,
                f"the stream root is {root.tag}, not {_STREAM_TAG}",
            )
        log = self._parser.feed_error_log
        fault = _namespace_fault(list(log))
        if fault is not None:
            raise fault
        self._nlog = len(log)
        content_ns = root.nsmap.get(None)
        if content_ns != NS_CLIENT:
            self._content_ns = content_ns
            self._top_ok = _top_level_ok(content_ns)
        self._root = root
        out.append(
            StreamHeader(
                name=root.tag,
                attributes=MappingProxyType({str(k): str(v) for k, v in root.attrib.items()}),
                default_namespace=root.nsmap.get(None),
            )
        )
        self._state = _BODY
        if len(events) > 1:  # <stream:stream .../>: opened and closed at once
            out.append(StreamFooter())
            self._state = _CLOSED
        rest = buf[end:]
        if rest:
            if self._state == _BODY:
                self._body(rest, 0, out)
            elif rest.strip(_WS_BYTES):
                raise XmlStreamError(_C.NOT_WELL_FORMED, "data after the end of the stream")
        return len(taken)

    def _feed_lxml(self, data: bytes) -> None:
        assert self._parser is not None
        try:
            self._parser.feed(data)
        except (etree.LxmlError, ValueError, UnicodeError, MemoryError) as exc:
            raise _lxml_error(exc) from None

    def _body(self, data: bytes, pos: int, out: list[StreamItem]) -> int:
        """Give ``data[pos:]`` to lxml slice by slice, checking limits between slices."""
        limit = self._limits.max_stanza_bytes
        n = len(data)
        while pos < n and self._state == _BODY:
            carry = self._carry
            room = limit - self._cur - len(carry)
            if room < SLICE_BYTES and self._cur_fix is not None:
                self._fix_cur()
                room = limit - self._cur - len(carry)
            if room <= 0:
                raise _policy(f"top-level element larger than {limit} bytes")
            take = room if room < SLICE_BYTES else SLICE_BYTES
            chunk = data[pos : pos + take]
            pos += len(chunk)
            buf = carry + chunk if carry else chunk
            self._slice(buf, out)
        return pos

    def _slice(self, buf: bytes, out: list[StreamItem]) -> None:
        """Scan one slice, hold back an undecidable suffix, feed the rest, handle events."""
        size = len(buf)
        edge = size - 9 if size > 9 else 0
        if buf.rfind(b"<", edge) >= 0 or buf.rfind(b"&", edge) >= 0:
            hold = _HOLD.search(buf, edge)
            if hold is not None:
                self._carry = buf[hold.start() :]
                buf = buf[: hold.start()]
            else:
                self._carry = b""
        else:
            self._carry = b""
        if not buf:
            return
        bad, spans, in_cdata = _scan(buf, self._in_cdata)
        if in_cdata and bad < 0:
            # Inside CDATA at the end: hold back a "]" or "]]" that may become "]]>".
            size = len(buf)
            cut = size
            while cut > size - 2 and cut > 0 and buf[cut - 1] == 0x5D:  # ']'
                cut -= 1
            if cut < size:
                self._carry = buf[cut:] + self._carry
                buf = buf[:cut]
                spans = [(a, min(b, cut)) for a, b in spans or ()]
        if bad >= 0:
            # Give lxml what precedes the token first: earlier faults win, and elements
            # that completed before it are still reported.
            self._carry = b""
            if bad:
                self._feed_slice(buf[:bad], spans, out)
            raise _scan_error(buf, bad)
        self._in_cdata = in_cdata
        if buf:
            self._feed_slice(buf, spans, out)

    def _feed_slice(
        self, buf: bytes, spans: list[tuple[int, int]] | None, out: list[StreamItem]
    ) -> None:
        """Feed ``buf`` (free of restricted XML) to lxml and handle what it produced."""
        flagged = self._watch.flag(buf, spans)
        suspect = self._suspect or flagged
        parser = self._parser
        if parser is None:
            parser = self._revive()
        root = self._root
        assert root is not None
        failure: XmlStreamError | None = None
        try:
            parser.feed(buf)
        except (etree.LxmlError, ValueError, UnicodeError, MemoryError) as exc:
            failure = _lxml_error(exc)
        # A namespace error (an undeclared prefix) is only logged by libxml2, while it
        # parses the start tag, so in the same feed() as that tag's start event.  The log
        # is a copy, cheap while empty; lxml keeps at most 100 warnings in it, and every
        # error ends the stream, so it never grows without bound.
        log = parser.feed_error_log
        ns_fault = None
        check_ns = self._ns_every
        if len(log) != self._nlog:
            ns_fault = _namespace_fault(list(log)[self._nlog :])
            self._nlog = len(log)
            if self._nlog >= _LOG_TRUSTED:
                self._ns_every = check_ns = True
            elif ns_fault is not None:
                check_ns = True
        events: Iterable[tuple[str, etree._Element]] = cast(
            "Iterator[tuple[str, etree._Element]]", parser.read_events()
        )
        if check_ns:
            events, culprit = _until_undeclared_prefix(events)
            if culprit is not None:
                ns_fault = culprit
        depth = self._depth
        limits = self._limits
        max_depth = limits.max_depth
        max_elements = limits.max_elements
        # Element count without a per-element addition: ``starts`` counts start tags in
        # this slice, so the current top-level element holds max_elements - room + starts.
        room = max_elements - self._count
        copy_at = _COPY_ABOVE - max_elements
        top: etree._Element | None = None  # the top-level element begun in this slice
        big: list[int] | None = None  # indexes in out of large elements still attached
        starts = 0
        top_started = False
        top_ended = False
        append = out.append
        try:
            for event, element in events:
                if event == "start":
                    depth += 1
                    if depth == 1:
                        starts = 1
                        room = max_elements
                        top_started = True
                        top = element
                        if root.text is not None:  # text before this element
                            _drop_root_text(root)
                    elif depth > max_depth:
                        raise _policy(f"elements nested deeper than {max_depth}")
                    else:
                        starts += 1
                else:
                    depth -= 1
                    if depth == 0:
                        if starts > room:  # checked per top-level element, not per element
                            raise _too_many_elements(max_elements)
                        if suspect:
                            _check_tree(element, limits, False)
                            suspect = flagged
                        tail = element.tail
                        if starts - room > copy_at:  # more than _COPY_ABOVE elements
                            # Detached after the loop (see _detach_by_copy), once lxml's
                            # event list no longer holds proxies of its descendants.
                            if big is None:
                                big = []
                            big.append(len(out))
                        else:
                            root.remove(element)  # its tail goes with it
                        append(element)
                        top_started = False
                        top_ended = True
                        if tail is not None:
                            element.tail = None
                            if tail.strip(_WS):
                                raise XmlStreamError(
                                    _C.BAD_FORMAT, "text between top-level elements"
                                )
                    elif depth < 0:
                        if root.text is not None:
                            _drop_root_text(root)
                        append(StreamFooter())
                        self._state = _CLOSED
            if root.text is not None:
                _drop_root_text(root)
            if depth > 0 and starts > room:  # the open element, at most a slice later
                raise _too_many_elements(max_elements)
            if top_started and top is not None:
                # A top-level element still open at the end of the slice is judged now,
                # before it can swallow what follows (complete ones are judged by the
                # connection, which reads every tag anyway: see top_level_fault).
                tag = top.tag
                if tag not in self._top_ok:
                    if self._stanzas_only:
                        _refuse_top_level(tag, self._content_ns)
                    elif tag == _STREAM_TAG:
                        _refuse_top_level(tag, None)
            top = None
            element = None  # type: ignore[assignment]
            if big is not None:
                events = ()  # the list _until_undeclared_prefix made holds proxies too
                _detach_by_copy(root, out, big)
        except XmlStreamError:
            self._depth = depth
            raise
        except (etree.LxmlError, ValueError, UnicodeError) as exc:  # pragma: no cover
            raise _lxml_error(exc) from None
        self._depth = depth
        self._count = max_elements - room + starts
        self._suspect = suspect
        if ns_fault is not None:  # lxml went on after it: it comes first
            raise ns_fault
        if failure is not None:
            raise failure
        if self._state != _BODY:
            return
        # Byte accounting of the current top-level element.  Where it began inside this
        # slice, ``_cur`` is first an upper bound (the whole slice) and the exact offset is
        # worked out only if the budget ever gets tight (see _body): stanzas far below the
        # limit never pay for it.
        if depth > 0:
            if top_started:
                self._cur_fix = (buf, starts, spans, self._cur)
                self._cur = len(buf)
            else:
                self._cur += len(buf)
        else:
            self._cur_fix = None
            last = buf.rfind(b"<")
            if last < 0:
                # No '<' here: either a tag that began earlier is still arriving, or the
                # element it began has ended here and only whitespace follows.
                self._cur = self._cur + len(buf) if self._cur and not top_ended else 0
            elif _tag_complete(buf, last):
                self._cur = 0
            else:
                self._cur = len(buf) - last

    def _fix_cur(self) -> None:
        """Replace the upper bound in ``_cur`` by the exact byte count."""
        assert self._cur_fix is not None
        buf, starts, spans, before = self._cur_fix
        self._cur_fix = None
        at = _start_offset(buf, starts, spans)
        exact = len(buf) - at if at >= 0 else before + len(buf)
        self._cur += exact - len(buf)


def _start_offset(buf: bytes, starts: int, spans: list[tuple[int, int]] | None) -> int:
    """Offset in ``buf`` of the ``<`` that opened the current top-level element, given
    that ``starts`` start tags (it and its descendants) completed in ``buf``; -1 if
    that ``<`` came in an earlier slice."""
    at = len(buf)
    last = True
    while True:
        at = buf.rfind(b"<", 0, at)
        if at < 0:
            return -1
        nxt = buf[at + 1 : at + 2]
        if nxt == b"/" or nxt == b"!":
            last = False
            continue
        if spans and _in_spans(at, spans):
            continue
        if last:
            last = False
            if not _tag_complete(buf, at):
                continue  # a start tag still arriving: no event yet
        starts -= 1
        if starts == 0:
            return at


# --- WebSocket frames (RFC 7395) -------------------------------------------------------


def _frame_parser() -> etree.XMLParser:
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        attribute_defaults=False,
        huge_tree=False,
        collect_ids=False,
        remove_comments=False,
        remove_pis=False,
        strip_cdata=True,
    )


_FRAME_PARSER: Final = _frame_parser()
#: What a WebSocket message may hold without a closer look (RFC 7395 3.3.2, 3.6).
_TOP_LEVEL_FRAME: Final = _TOP_LEVEL_CLIENT | {f"{{{NS_FRAMING}}}open", f"{{{NS_FRAMING}}}close"}


def parse_frame(
    data: bytes, limits: XmlLimits = _DEFAULT_LIMITS, *, stanzas_only: bool = False
) -> etree._Element:
    """Parse one RFC 7395 WebSocket text message: exactly one complete element.

    That element is ``<open/>``, ``<close/>``, a stanza or a nonza.  An element without an
    ``xmlns`` stays un-namespaced (the connection decides what that means).  The same
    hardening and limits as :class:`XmlStreamParser` apply: ``max_stanza_bytes`` bounds the
    whole message, and since a message holds one element and nothing else, an XML
    declaration in it counts as a processing instruction (``restricted-xml``).  A
    ``<stream:stream>`` element is ``bad-format`` (RFC 7395 opens the stream with
    ``<open/>``); with ``stanzas_only`` (what the connections use) every other element an
    XMPP stream cannot carry at depth 1 is refused as in :class:`XmlStreamParser`.
    Raises :class:`XmlStreamError`.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise LocalProtocolError("parse_frame takes bytes")
    data = bytes(data)
    if len(data) > limits.max_stanza_bytes:
        raise _policy(f"WebSocket message larger than {limits.max_stanza_bytes} bytes")
    stripped = data.lstrip(_WS_BYTES)
    if stripped.startswith(_FOREIGN_SIGNATURES):
        raise XmlStreamError(_C.UNSUPPORTED_ENCODING, "the message is not encoded in UTF-8")
    if stripped.startswith(_UTF8_BOM):
        stripped = stripped[3:]
    if not stripped.startswith(b"<"):
        raise XmlStreamError(_C.NOT_WELL_FORMED, "a WebSocket message must hold one element")
    bad, _, in_cdata = _scan(data, False)
    if bad >= 0:
        raise _scan_error(data, bad)
    if in_cdata:
        raise XmlStreamError(_C.NOT_WELL_FORMED, "unterminated CDATA section")
    try:
        element = etree.fromstring(data, _FRAME_PARSER)
    except (etree.LxmlError, ValueError, UnicodeError, MemoryError) as exc:
        raise _lxml_error(exc) from None
    tag = element.tag
    if tag not in _TOP_LEVEL_FRAME:
        if stanzas_only:
            _refuse_top_level(tag, NS_CLIENT)
        elif tag == _STREAM_TAG:
            _refuse_top_level(tag, None)
    tags = data.count(b"<")
    if tags > limits.max_depth:
        depth = 0
        for event, _ in etree.iterwalk(element, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth > limits.max_depth:
                    raise _policy(f"elements nested deeper than {limits.max_depth}")
            else:
                depth -= 1
    # The tree walk is needed only if a value, a text node or an attribute list could be
    # over its limit (a '<'-free run of _run_threshold bytes) or a name has a prefix.
    if _has_long_run(data, run_threshold(limits)) or _has_prefixed_name(data):
        _check_tree(element, limits, True)
    return element
