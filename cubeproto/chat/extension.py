"""The ConnectyCube message extension: ``<extraParams xmlns="jabber:client">``, encoded and
decoded exactly as the official JS SDK 6.1.2 does.

Encoding (our commands), per key in insertion order:

* ``str`` -> ``<key>text</key>`` (escaped); ``int``/``float`` -> the JavaScript number text
  (``1.0`` -> ``1``, ``1e-07`` -> ``1e-7``); ``bool`` -> ``true``/``false``;
  ``None`` -> ``<key></key>``;
* a mapping -> ``<key>`` with one child per sub-key, recursively;
* the top-level key ``attachments`` with a sequence of mappings -> one ``<attachment/>``
  per item, every property an attribute (``None`` properties omitted).

Values the SDK would put on the wire as broken XML are refused with
:class:`~cubeproto.errors.LocalProtocolError` instead: keys that are not XML names (the
SDK writes ``<0>`` for array items), arrays other than ``attachments``, and nested objects
inside an attachment (the SDK writes ``[object Object]``).

Decoding (peer input) walks the direct element children of ``<extraParams>``:

* ``<attachment>`` -> a dict of its attributes; ``size`` becomes an ``int`` when it is a
  base-10 integer (the SDK yields ``NaN`` otherwise; we keep the original text);
* an element with element children -> a nested dict; with text only -> that text; every
  leaf is a ``str``;
* empty elements are dropped (an empty string or ``None`` does not survive a round trip,
  exactly as with the SDK); whitespace-only text *between* elements is ignored (the SDK
  would collapse such mixed content to its last text);
* ``moduleIdentifier`` is removed; ``attachments`` is present only when non-empty;
  ``dialog_id`` stays in the extension *and* is reported separately.

Child element names are matched by local name, namespaces ignored, as the SDK does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, Union

from .._memo import remember
from ..errors import LocalProtocolError
from ._escape import attr as _attr
from ._escape import plain
from ._escape import text as _text
from ._fault import StanzaFault

if TYPE_CHECKING:
    from lxml import etree

__all__ = [
    "MAX_EXTENSION_DEPTH",
    "AttachmentValue",
    "DecodedExtension",
    "DecodedParams",
    "DecodedValue",
    "ExtensionValue",
    "decode_extension",
    "encode_extension",
    "encode_extension_children",
    "js_number",
]

AttachmentValue = Union[str, int, float, bool, None]  # noqa: UP007 (runtime alias, py3.10)
ExtensionValue = Union[  # noqa: UP007 (recursive alias needs Union)
    str,
    int,
    float,
    bool,
    None,
    Mapping[str, "ExtensionValue"],
    Sequence[Mapping[str, AttachmentValue]],
]
#: A decoded value: text, a nested object (whose empty members are ``None``, the SDK's
#: ``null``), or the attachments list.  Top-level empty elements are dropped instead.
DecodedValue = Union[str, dict[str, Union["DecodedValue", None]], list[dict[str, str | int]]]  # noqa: UP007
DecodedExtension = dict[str, DecodedValue]

#: Nesting depth of extension objects we accept from the peer (and send): at most this
#: many objects inside one another under ``<extraParams>``.  The SDK has no limit; the
#: stream parser bounds depth anyway, this keeps the recursion small.
MAX_EXTENSION_DEPTH = 32

# XML 1.0 (5th edition) NameStartChar / NameChar, without ':' (namespace well-formedness).
_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff"
    "\u200c-\u200d\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd"
    "\U00010000-\U000effff"
)
_NCNAME = re.compile(f"[{_START}][{_START}\\-.0-9\u00b7\u0300-\u036f\u203f-\u2040]*")
_INT = re.compile(r"[+-]?[0-9]{1,20}")
_EXP = re.compile(r"e([+-])0*(\d)")


#: For names already checked (keys repeat: the same few are used in every message), the
#: open and close tags of an element and the `` name="`` that starts an attachment
#: attribute.  Bounded: cleared when full, so a stream of distinct keys cannot grow them.
_TAGS: dict[str, tuple[str, str]] = {}
_ATTRIBUTES: dict[str, str] = {}
_MAX_NAMES = 4096


def _check_name(name: object) -> str:
    if not isinstance(name, str) or _NCNAME.fullmatch(name) is None:
        raise LocalProtocolError(f"an extension key must be an XML name, not {name!r}")
    if name[:3].lower() == "xml":
        raise LocalProtocolError(f"names starting with 'xml' are reserved: {name!r}")
    return name


def _tags(name: object) -> tuple[str, str]:
    """``("<name>", "</name>")`` for a key not yet in :data:`_TAGS`, once it is checked."""
    key = _check_name(name)
    return remember(_TAGS, key, (f"<{key}>", f"</{key}>"), _MAX_NAMES)


def _attribute(name: object) -> str:
    """``' name="'`` for an attribute name not yet in :data:`_ATTRIBUTES`, once checked."""
    key = _check_name(name)
    return remember(_ATTRIBUTES, key, f' {key}="', _MAX_NAMES)


def js_number(value: int | float) -> str:
    """The text JavaScript's ``String(number)`` gives (what the SDK puts on the wire)."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        text = _EXP.sub(lambda m: f"e{m.group(1)}{m.group(2)}", text)
        mantissa, _, exponent = text.partition("e")
        if mantissa.endswith(".0"):
            mantissa = mantissa[:-2]
        text = f"{mantissa}e{exponent}"
    return text


def _scalar_text(value: object) -> str | None:
    """Text of a scalar value, or ``None`` if the value is not a scalar."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return js_number(value)
    return None


def _encode_attachment(item: object, out: list[str], values: list[str] | None) -> None:
    if type(item) is not dict and not isinstance(item, Mapping):
        raise LocalProtocolError(f"an attachment is a mapping of attributes, not {item!r}")
    out.append("<attachment")
    for name, value in item.items():
        try:
            start = _ATTRIBUTES[name]
        except KeyError:
            start = _attribute(name)
        if type(value) is not str:
            if value is None:
                continue
            text = _scalar_text(value)
            if text is None:
                raise LocalProtocolError(
                    f"attachment attribute {name!r} must be a scalar, not {type(value).__name__}"
                )
            value = text
        if values is None:
            value = _attr(value)
        else:
            values.append(value)
        out.append(start)
        out.append(value)
        out.append('"')
    out.append("/>")


def _encode_mapping(
    mapping: Mapping[str, object], out: list[str], depth: int, values: list[str] | None
) -> None:
    """Append the children for ``mapping``.  With ``values`` a list, text is written as it
    is and collected there (the caller checks it all at once); with ``None``, escaped."""
    # The hot path of outbound messages: plain str/int values and dicts are dispatched
    # on their exact type first; everything else takes the general path.  Pieces are
    # appended one by one (``out.append`` is a specialised instruction; the caller joins
    # them all once) rather than formatted into a string per element.
    for name, value in mapping.items():
        try:
            open_, close = _TAGS[name]
        except KeyError:
            open_, close = _tags(name)
        kind = type(value)
        if kind is str:
            if values is None:
                value = _text(value)  # type: ignore[arg-type]
            else:
                values.append(value)  # type: ignore[arg-type]
            out.append(open_)
            out.append(value)  # type: ignore[arg-type]
            out.append(close)
        elif kind is int:
            out.append(f"{open_}{value}{close}")
        elif kind is list and depth == 0 and name == "attachments":
            for item in value:  # type: ignore[attr-defined]
                _encode_attachment(item, out, values)
        elif kind is dict or (kind is not list and isinstance(value, Mapping)):
            if depth >= MAX_EXTENSION_DEPTH:
                raise LocalProtocolError(f"extension nested deeper than {MAX_EXTENSION_DEPTH}")
            out.append(open_)
            _encode_mapping(value, out, depth + 1, values)  # type: ignore[arg-type]
            out.append(close)
        elif (text := _scalar_text(value)) is not None:
            if values is None:
                text = _text(text)
            else:
                values.append(text)
            out.append(open_)
            out.append(text)
            out.append(close)
        elif depth == 0 and name == "attachments" and isinstance(value, Sequence):
            for item in value:
                _encode_attachment(item, out, values)
        else:
            raise LocalProtocolError(
                f"extension value for {name!r} must be a scalar or a mapping (only the "
                f"top-level 'attachments' may be a list), not {type(value).__name__}"
            )


def encode_extension_children(extension: Mapping[str, ExtensionValue], out: list[str]) -> None:
    """Append the children of ``<extraParams>`` for ``extension`` to ``out``.

    Values are usually plain text (ids, names, numbers): the first pass writes them as
    they are and collects them, and one check over all of them (:func:`._escape.plain`)
    confirms that none needs escaping.  Otherwise -- or when the extension is refused --
    the second pass escapes each value (and raises, for a refused extension, the first
    fault in order).
    """
    start = len(out)
    values: list[str] = []
    try:
        _encode_mapping(extension, out, 0, values)
        if not values or plain("".join(values)):
            return
    except LocalProtocolError:
        pass
    del out[start:]
    _encode_mapping(extension, out, 0, None)


def encode_extension(extension: Mapping[str, ExtensionValue]) -> str:
    """The whole ``<extraParams xmlns="jabber:client">`` element for ``extension``."""
    out = ['<extraParams xmlns="jabber:client">']
    encode_extension_children(extension, out)
    out.append("</extraParams>")
    return "".join(out)


#: Local names of the tags seen (the same few keys in every message).  Bounded.
_LOCALS: dict[str, str] = {}
_MAX_LOCALS = 4096


def _local(tag: str) -> str:
    name = _LOCALS.get(tag)
    if name is None:
        name = remember(
            _LOCALS, tag, tag[tag.find("}") + 1 :] if tag[:1] == "{" else tag, _MAX_LOCALS
        )
    return name


def _decode_attachment(element: etree._Element) -> dict[str, str | int]:
    pairs = element.items()
    item: dict[str, str | int] = dict(pairs)  # type: ignore[arg-type]
    if "{" in "".join(item):  # a namespaced attribute (rare): keyed by local name
        item = {_local(str(name)): str(value) for name, value in pairs}
    # The last "size" attribute (of any namespace) is the one kept: its value decides.
    size = item.get("size")
    if size is not None and _INT.fullmatch(size.strip()):  # type: ignore[union-attr]
        item["size"] = int(size)
    return item


def _decode_node(element: etree._Element, depth: int) -> DecodedValue | None:
    """A child's value: nested dict, text, or ``None`` when it is empty.

    Inside an object an empty member stays, as ``None`` (the SDK's ``assignXmlToObject``
    stores ``getText() || null``); the caller drops empty top-level elements."""
    nested: dict[str, DecodedValue | None] | None = None
    names = _LOCALS
    for child in element:
        tag = child.tag
        try:
            name = names[tag]
        except KeyError:
            if not isinstance(tag, str):
                continue  # comments/PIs (the stream parser refuses them; lxml.fromstring may not)
            name = _local(tag)
        if nested is None:
            nested = {}
        if not len(child):  # a leaf (the common case) inline
            nested[name] = child.text or None
        elif depth >= MAX_EXTENSION_DEPTH:
            # ``element`` is object number ``depth``; ``child`` would be one more.  The
            # encoder's limit is the same (MAX_EXTENSION_DEPTH nested objects).
            raise StanzaFault(f"extraParams nested deeper than {MAX_EXTENSION_DEPTH}")
        else:
            nested[name] = _decode_node(child, depth + 1)
    if nested is not None:
        return nested
    text = element.text
    return text if text else None


class DecodedParams(NamedTuple):
    """What ``<extraParams>`` held: the SDK's ``extension`` (without ``moduleIdentifier``),
    the ``dialog_id`` text and the ``moduleIdentifier`` text, if any."""

    extension: DecodedExtension
    dialog_id: str | None
    module_identifier: str | None


def decode_extension(element: etree._Element) -> DecodedParams:
    """Decode ``<extraParams>`` as the SDK does.

    Raises :class:`StanzaFault` only for nesting deeper than :data:`MAX_EXTENSION_DEPTH`.
    """
    # The inbound hot path: one pass; leaf children (the common case) read inline, local
    # names from the cache by subscription (a miss is rare), nothing allocated ahead.
    extension: DecodedExtension = {}
    attachments: list[dict[str, str | int]] | None = None
    dialog_id: str | None = None
    names = _LOCALS
    for child in element:
        tag = child.tag
        try:
            name = names[tag]
        except KeyError:
            if not isinstance(tag, str):
                continue
            name = _local(tag)
        if name == "attachment":
            if attachments is None:
                attachments = [_decode_attachment(child)]
            else:
                attachments.append(_decode_attachment(child))
            continue
        value: DecodedValue | None
        if len(child):
            value = _decode_node(child, 1)
            if value is None:
                continue
            if name == "dialog_id" and type(value) is str:
                dialog_id = value  # an element whose children are all comments
        else:
            value = child.text
            if not value:
                continue
            if name == "dialog_id":
                dialog_id = value
        extension[name] = value
    module = extension.pop("moduleIdentifier", None) if "moduleIdentifier" in extension else None
    if attachments:
        extension["attachments"] = attachments
    return _new_params(
        DecodedParams, (extension, dialog_id, module if isinstance(module, str) else None)
    )


_new_params = tuple.__new__
