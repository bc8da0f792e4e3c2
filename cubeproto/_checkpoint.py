"""The resumption checkpoint: what a NEW process needs to resume an XEP-0198 session.

:class:`Checkpoint` is plain data with a documented JSON form (no pickle: a checkpoint
is read back by a process that may run other code, and a file is input that must be
validated).  The format, version 1::

    {
      "version": 1,
      "resume_id": "g2gCbQ...",          # <enabled id=...>
      "jid": "1001-42@chat.example/r1",  # the bound full JID
      "location": null,                  # <enabled location=...> or null
      "max_seconds": 300,                # <enabled max=...> or null
      "inbound_h": 17,                   # stanzas handled (confirmed, with
                                         # app_controlled_acks), sent as <resume h=...>
      "acked_h": 40,                     # the last h the server acknowledged
      "outbound_h": 42,                  # stanzas sent; outbound_h - acked_h == len(unacked)
      "unacked": [                       # oldest first, resent after <resumed/>
        {"xml": "<message ...>...</message>", "message_id": "5f...a1"},
        {"xml": "<presence/>", "message_id": null}
      ],
      "poison_strikes": 0,               # stream deaths in a row right after unacked[0]
      "poison_condition": null,          # the stream error of the last such death
      "handler": {...} or null           # the chat layer's durable state (JSON data)
    }

Counters are XEP-0198 ``h`` values, integers in ``[0, 2**32)``.  Anything else -- not
JSON, another version, a missing or mistyped field, inconsistent counters, an unacked
entry that is not one stanza -- raises :class:`CheckpointError` (a ``ValueError`` and a
``LocalProtocolError``) saying what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .errors import LocalProtocolError

__all__ = ["CHECKPOINT_VERSION", "Checkpoint", "CheckpointError"]

CHECKPOINT_VERSION = 1
_MOD = 2**32
_STANZA_TAGS = frozenset({"message", "presence", "iq"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class CheckpointError(LocalProtocolError, ValueError):
    """A checkpoint that cannot be used: malformed JSON, an unknown version, bad fields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A snapshot of a resumable session, enough for a new process to resume it.

    Obtained from :meth:`ClientConnection.checkpoint` (at any moment while the session is
    resumable; persist it on every :class:`~cubeproto.events.CheckpointChanged`) and
    passed as ``ClientConnection(config, resume=checkpoint)``.  ``unacked`` holds
    ``(xml, message_id)`` pairs, ``message_id`` ``None`` for a stanza that is not a
    countable message.  ``handler`` is the stanza handler's durable state (for
    :class:`~cubeproto.chat.ChatSession`: the confirmed duplicate-suppression ids and the
    delivery statuses), restored into a handler made by ``config.handler_factory``.
    """

    resume_id: str
    jid: str
    location: str | None
    max_seconds: int | None
    inbound_h: int
    acked_h: int
    outbound_h: int
    unacked: tuple[tuple[str, str | None], ...]
    poison_strikes: int = 0
    poison_condition: str | None = None
    handler: Any = field(default=None, hash=False)

    def to_json(self) -> str:
        """The documented JSON form (version 1)."""
        return json.dumps(
            {
                "version": CHECKPOINT_VERSION,
                "resume_id": self.resume_id,
                "jid": self.jid,
                "location": self.location,
                "max_seconds": self.max_seconds,
                "inbound_h": self.inbound_h,
                "acked_h": self.acked_h,
                "outbound_h": self.outbound_h,
                "unacked": [{"xml": xml, "message_id": mid} for xml, mid in self.unacked],
                "poison_strikes": self.poison_strikes,
                "poison_condition": self.poison_condition,
                "handler": self.handler,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        """Parse and validate :meth:`to_json`'s output; :class:`CheckpointError` if it
        is not a usable version-1 checkpoint."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError, RecursionError) as exc:
            raise CheckpointError(f"checkpoint is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CheckpointError("checkpoint JSON must be an object")
        version = data.get("version")
        if version != CHECKPOINT_VERSION or type(version) is not int:
            raise CheckpointError(
                f"unsupported checkpoint version {version!r} (this cubeproto reads "
                f"version {CHECKPOINT_VERSION})"
            )
        unknown = set(data) - _FIELDS
        if unknown:
            raise CheckpointError(f"unknown checkpoint fields: {sorted(unknown)}")
        resume_id = _string(data, "resume_id")
        jid = _string(data, "jid")
        if "@" not in jid or "/" not in jid:
            raise CheckpointError(f"checkpoint jid {jid!r} is not a full JID")
        location = _string(data, "location", optional=True)
        max_seconds = _count(data, "max_seconds", optional=True)
        inbound_h = _count(data, "inbound_h")
        acked_h = _count(data, "acked_h")
        outbound_h = _count(data, "outbound_h")
        raw_unacked = data.get("unacked")
        if not isinstance(raw_unacked, list):
            raise CheckpointError("checkpoint field 'unacked' must be a list")
        unacked = tuple(_unacked_entry(i, entry) for i, entry in enumerate(raw_unacked))
        if (outbound_h - acked_h) % _MOD != len(unacked):
            raise CheckpointError(
                f"inconsistent counters: outbound_h={outbound_h} acked_h={acked_h} but "
                f"{len(unacked)} unacknowledged stanzas"
            )
        poison = data.get("poison_strikes", 0)
        if type(poison) is not int or not 0 <= poison <= 2:
            raise CheckpointError(f"checkpoint field 'poison_strikes' is invalid: {poison!r}")
        poison_condition = _string(data, "poison_condition", optional=True)
        return cls(
            resume_id=resume_id,
            jid=jid,
            location=location,
            max_seconds=max_seconds,
            inbound_h=inbound_h,
            acked_h=acked_h,
            outbound_h=outbound_h,
            unacked=unacked,
            poison_strikes=poison,
            poison_condition=poison_condition,
            handler=data.get("handler"),
        )


_FIELDS = frozenset(
    {
        "version",
        "resume_id",
        "jid",
        "location",
        "max_seconds",
        "inbound_h",
        "acked_h",
        "outbound_h",
        "unacked",
        "poison_strikes",
        "poison_condition",
        "handler",
    }
)


def _string(data: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise CheckpointError(f"checkpoint field {name!r} must be a non-empty string")
    return value


def _count(data: dict[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if type(value) is not int or not 0 <= value < _MOD:
        raise CheckpointError(f"checkpoint field {name!r} must be an integer in [0, 2**32)")
    return value


def _unacked_entry(index: int, entry: Any) -> tuple[str, str | None]:
    if not isinstance(entry, dict) or set(entry) != {"xml", "message_id"}:
        raise CheckpointError(f"unacked[{index}] must be an object with xml and message_id")
    xml, message_id = entry["xml"], entry["message_id"]
    if message_id is not None and (not isinstance(message_id, str) or not message_id):
        raise CheckpointError(f"unacked[{index}].message_id must be a string or null")
    return checked_stanza(xml, f"unacked[{index}].xml"), message_id


def checked_stanza(xml: Any, where: str, tags: frozenset[str] = _STANZA_TAGS) -> str:
    """``xml`` if it is the text of one stanza whose name is among ``tags`` (a checkpoint
    is read back as input: what it holds is sent again as it is, so it must be one
    stanza and nothing more); :class:`CheckpointError` naming ``where`` otherwise."""
    if not isinstance(xml, str):
        raise CheckpointError(f"{where} must be a string")
    try:
        element = etree.fromstring(xml, parser=_PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise CheckpointError(f"{where} is not one stanza: {exc}") from None
    tag = element.tag if element is not None else None
    if not isinstance(tag, str) or tag.rsplit("}", 1)[-1] not in tags:
        names = ", ".join(f"<{name}/>" for name in sorted(tags))
        raise CheckpointError(f"{where} is not one of {names}")
    return xml
