"""Reading and writing RFC 6120 stanza errors (``<error/>`` inside a stanza).

Shared by the core (IQ errors) and the chat layer (bounced messages, join errors).
Reading never raises: whatever arrives becomes a :class:`~cubeproto.errors.StanzaError`
value; an ``<error/>`` without a condition gets ``condition_name=""``.
"""

from __future__ import annotations

from lxml import etree

from ._wire import parse_uint, split_tag
from .errors import NS_STANZAS, StanzaError, StanzaErrorCondition, StanzaErrorType

__all__ = ["error_reply", "parse_stanza_error", "stanza_error"]

_CONDITIONS = {c.value: c for c in StanzaErrorCondition}
_TYPES = {t.value: t for t in StanzaErrorType}
_TEXT = f"{{{NS_STANZAS}}}text"


def parse_stanza_error(stanza: etree._Element) -> StanzaError:
    """The error carried by ``stanza`` (a ``type="error"`` stanza)."""
    error = None
    for child in stanza:
        if isinstance(child.tag, str) and split_tag(child.tag)[1] == "error":
            error = child
            break
    if error is None:
        return StanzaError(condition=None, condition_name="", type=None)
    name = ""
    text = None
    for child in error:
        if not isinstance(child.tag, str):
            continue
        if child.tag == _TEXT:
            text = child.text or ""
        elif not name and split_tag(child.tag)[0] == NS_STANZAS:
            name = split_tag(child.tag)[1]
    code = parse_uint(error.get("code"), max_digits=6)
    return stanza_error(name, error.get("type"), text=text, code=code)


def stanza_error(
    condition_name: str, type_name: str | None, *, text: str | None, code: int | None
) -> StanzaError:
    """The :class:`~cubeproto.errors.StanzaError` of a condition and type named as on the
    wire (as :func:`parse_stanza_error` reads them: an unknown name gives ``None`` for
    the enum and keeps the name)."""
    return StanzaError(
        condition=_CONDITIONS.get(condition_name),
        condition_name=condition_name,
        type=_TYPES.get(type_name or ""),
        text=text,
        code=code,
    )


def error_reply(
    kind: str,
    stanza_id: str,
    to: str | None,
    condition: StanzaErrorCondition,
    error_type: StanzaErrorType,
) -> str:
    """Serialize an error answer to a request (``kind`` is ``iq``, ``message``...).

    ``stanza_id`` and ``to`` must already be attribute-escaped by the caller.
    """
    to_attr = f' to="{to}"' if to else ""
    return (
        f'<{kind} type="error" id="{stanza_id}"{to_attr}><error type="{error_type.value}">'
        f'<{condition.value} xmlns="{NS_STANZAS}"/></error></{kind}>'
    )
