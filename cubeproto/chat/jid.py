"""ConnectyCube addressing: user JIDs ``{userId}-{appId}@{chatHost}``, room JIDs
``{appId}_{dialogId}@{mucHost}`` and occupant JIDs ``{roomJid}/{userId}`` (the nick is the
user id).

Two directions, two policies:

* **Building** (our own commands): every part is prepared per RFC 7622 -- the localpart
  with the PRECIS ``UsernameCaseMapped`` profile, the domain with IDNA -- and a value that
  cannot be prepared raises :class:`~cubeproto.errors.LocalProtocolError`.  Preparation
  results are cached: the same few hosts and dialogs are used over and over.
* **Parsing** (peer input): :func:`parse_jid` is a cheap structural check (RFC 7622 section
  3 limits and the localpart's forbidden characters) that returns ``None`` for a malformed
  JID.  It never raises; the caller turns ``None`` into a
  :class:`~cubeproto.events.MalformedStanza`.

ConnectyCube's id conventions:

* user bare JID ``{userId}-{appId}@{chatHost}``; the user id is the integer before the
  first ``-`` of the localpart;
* room JID ``{appId}_{dialogId}@{mucHost}``; the dialog id is the text after the first
  ``_``;
* occupant JID ``{roomJid}/{userId}``: the nick *is* the user id.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import idna
import precis_i18n

from .._memo import remember
from ..errors import LocalProtocolError

__all__ = [
    "Jid",
    "dialog_id_from_room",
    "occupant_jid",
    "occupant_user_id",
    "parse_jid",
    "prepare_domain",
    "prepare_localpart",
    "room_jid",
    "user_id_from_jid",
    "user_jid",
]

#: RFC 7622 section 3: each part is at most 1023 octets.
MAX_PART_OCTETS = 1023
#: A user id longer than this is not a ConnectyCube id (and ``int()`` of a huge digit
#: string is refused by CPython anyway).  Ids are 64-bit at most: 20 digits.
MAX_ID_DIGITS = 20
#: RFC 7622 section 3.3.1: characters a localpart may not contain.
_FORBIDDEN_LOCAL = frozenset("\"&'/:<>@")

_USERNAME = precis_i18n.get_profile("UsernameCaseMapped")


class Jid(NamedTuple):
    """A parsed JID.  ``local`` and ``resource`` are ``""`` when absent."""

    local: str
    domain: str
    resource: str

    @property
    def bare(self) -> str:
        """``local@domain`` (or ``domain``)."""
        return f"{self.local}@{self.domain}" if self.local else self.domain

    def __str__(self) -> str:
        bare = self.bare
        return f"{bare}/{self.resource}" if self.resource else bare


# RFC 7622 structure: [localpart "@"] domainpart ["/" resourcepart].  The localpart may
# not contain " & ' / : < > @ (section 3.3.1) nor whitespace; the domainpart no "@", "/"
# or whitespace; no part may contain a control character.  The first "/" ends the bare
# JID, so the bare part and the resource are checked separately.
_BARE = re.compile(r"(?:([^\"&'/:<>@\s\x00-\x1f\x7f]+)@)?([^@/\s\x00-\x1f\x7f]+)").fullmatch
_RESOURCE = re.compile(r"[^\x00-\x1f\x7f]+").fullmatch
#: Recently parsed JIDs, and the bare parts of recently parsed JIDs: the same peers and
#: rooms send most stanzas, each peer from one or a few resources.  Bounded (cleared when
#: full) so that a peer sending endless distinct JIDs cannot grow them.
_PARSED: dict[str, Jid | None] = {}
_PARSED_BARE: dict[str, tuple[str, str] | None] = {}
_MAX_PARSED = 2048
#: User ids of recently seen localparts (``78-105`` -> 78; ``None`` for other
#: localparts); bounded like :data:`_PARSED`.
_USER_IDS: dict[str, int | None] = {}
_MAX_USER_IDS = 2048
#: ``occupant_ids`` of recently seen ``from`` JIDs of group stanzas, and ``user_id_of``
#: of recently seen JIDs (``_MALFORMED`` for malformed ones); bounded likewise.
_OCCUPANTS: dict[str, tuple[int | None, str | None] | None] = {}
_USER_ID_OF: dict[str, object] = {}
_MISS = object()
_MALFORMED = object()
_new_jid = tuple.__new__


def _octets_ok(part: str) -> bool:
    return len(part) * 4 <= MAX_PART_OCTETS or len(part.encode("utf-8")) <= MAX_PART_OCTETS


def parse_jid(value: str) -> Jid | None:
    """Split a JID from the peer into its parts, or ``None`` if it is malformed.

    Structural only (no PRECIS mapping: comparisons use the server's own canonical form).
    """
    jid = _PARSED.get(value, _MISS)
    if jid is _MISS:
        jid = remember(_PARSED, value, _parse_jid(value), _MAX_PARSED)
    return jid  # type: ignore[return-value]


def _parse_jid(value: str) -> Jid | None:
    bare, slash, resource = value.partition("/")
    parts = _bare_parts(bare)
    if parts is None or (slash and not _resource_ok(resource)):
        return None
    return _new_jid(Jid, (parts[0], parts[1], resource))


def _bare_parts(bare: str) -> tuple[str, str] | None:
    """``(local, domain)`` of a bare JID, ``None`` if malformed (cached)."""
    parts = _PARSED_BARE.get(bare, _MISS)
    if parts is _MISS:
        parts = remember(_PARSED_BARE, bare, _parse_bare(bare), _MAX_PARSED)
    return parts  # type: ignore[return-value]


def _resource_ok(resource: str) -> bool:
    # Resources are usually ASCII: then "no control character" is str.isprintable
    # (0x20-0x7e), a cheaper test than the pattern.
    if resource.isascii():
        return 0 < len(resource) <= MAX_PART_OCTETS and resource.isprintable()
    return _RESOURCE(resource) is not None and _octets_ok(resource)


def _parse_bare(bare: str) -> tuple[str, str] | None:
    m = _BARE(bare)
    if m is None:
        return None
    local, domain = m.groups("")
    if domain[-1] == ".":
        domain = domain[:-1]
        if not domain:
            return None
    if not (_octets_ok(local) and _octets_ok(domain)):
        return None
    return local, domain


def _small_int(text: str) -> int | None:
    """A positive id written in ASCII digits (ids start at 1), else ``None``."""
    if 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit():
        value = int(text)
        return value if value > 0 else None
    return None


def user_id_from_jid(jid: Jid) -> int | None:
    """The ConnectyCube user id of a user JID (``78-105@host`` -> 78), else ``None``."""
    local = jid[0]
    user_id = _USER_IDS.get(local, _MISS)
    if user_id is _MISS:
        user_id = _local_user_id(local)
    return user_id  # type: ignore[return-value]


def _local_user_id(local: str) -> int | None:
    """The user id of a localpart, computed and remembered in :data:`_USER_IDS`."""
    dash = local.find("-")
    return remember(
        _USER_IDS, local, _small_int(local[:dash] if dash >= 0 else local), _MAX_USER_IDS
    )


def user_id_of(value: str) -> int | None:
    """``user_id_from_jid(parse_jid(value))``; raises ``ValueError`` where ``parse_jid``
    gives ``None``.

    For classification, which needs only the id of most JIDs it sees: the answer is
    cached per JID (bounded like :data:`_PARSED`), and a JID not seen before -- typically
    a known peer on a new resource -- is checked without building its :class:`Jid`."""
    user_id = _USER_ID_OF.get(value, _MISS)
    if user_id is _MISS:
        user_id = _user_id_of(value)
    if user_id is _MALFORMED:
        raise ValueError(f"malformed JID {value!r}")
    return user_id  # type: ignore[return-value]


def _user_id_of(value: str) -> object:
    # _parse_jid and user_id_from_jid in one, without building the Jid: the usual miss
    # is a known bare JID on a new resource.
    bare, slash, resource = value.partition("/")
    parts = _PARSED_BARE.get(bare, _MISS)
    if parts is _MISS:
        parts = _bare_parts(bare)
    if parts is None:
        user_id: object = _MALFORMED
    elif slash and not _resource_ok(resource):
        user_id = _MALFORMED
    else:
        local = parts[0]  # type: ignore[index]
        user_id = _USER_IDS.get(local, _MISS)
        if user_id is _MISS:
            user_id = _local_user_id(local)
    return remember(_USER_ID_OF, value, user_id, _MAX_PARSED)


def dialog_id_from_room(jid: Jid) -> str | None:
    """The dialog id of a room JID (``105_abc@muc.host`` -> ``abc``), else ``None``."""
    underscore = jid.local.find("_")
    if underscore < 0 or underscore == len(jid.local) - 1:
        return None
    return jid.local[underscore + 1 :]


def occupant_user_id(jid: Jid) -> int | None:
    """The user id an occupant JID's nick stands for (``room/78`` -> 78), else ``None``."""
    return _small_int(jid.resource)


def occupant_ids(value: str) -> tuple[int | None, str | None] | None:
    """``(occupant_user_id(jid), dialog_id_from_room(jid))`` for ``jid = parse_jid(value)``,
    or ``None`` if ``value`` is malformed.

    What group stanzas need from their ``from``; cached (bounded like :data:`_PARSED`)
    because a room's few occupants send most of them."""
    ids = _OCCUPANTS.get(value, _MISS)
    if ids is _MISS:
        jid = parse_jid(value)
        ids = None if jid is None else (occupant_user_id(jid), dialog_id_from_room(jid))
        ids = remember(_OCCUPANTS, value, ids, _MAX_PARSED)
    return ids  # type: ignore[return-value]


@lru_cache(maxsize=256)
def prepare_domain(domain: str) -> str:
    """Prepare a domainpart (IDNA2008 via UTS 46, lowercased); IP literals pass as they are.

    Raises ``LocalProtocolError`` for a domain that cannot appear in a JID.
    """
    d = domain[:-1] if domain.endswith(".") else domain
    if not d:
        raise LocalProtocolError("a JID domain may not be empty")
    if d.startswith("[") and d.endswith("]"):
        return d
    try:
        if d.isascii():
            prepared = idna.encode(d, uts46=True).decode("ascii")
        else:
            prepared = idna.decode(idna.encode(d, uts46=True))
    except idna.IDNAError as exc:
        raise LocalProtocolError(f"not a valid JID domain: {domain!r} ({exc})") from None
    if len(prepared.encode("utf-8")) > MAX_PART_OCTETS:
        raise LocalProtocolError("a JID domain is at most 1023 octets")
    return prepared


@lru_cache(maxsize=4096)
def prepare_localpart(local: str) -> str:
    """Prepare a localpart with PRECIS ``UsernameCaseMapped`` (RFC 7622 section 3.3).

    Raises ``LocalProtocolError`` if the value is not allowed.
    """
    try:
        prepared: str = _USERNAME.enforce(local)
    except UnicodeError as exc:
        raise LocalProtocolError(f"not a valid JID localpart: {local!r} ({exc})") from None
    if not _FORBIDDEN_LOCAL.isdisjoint(prepared):
        raise LocalProtocolError(f"a JID localpart may not contain any of \"&'/:<>@: {local!r}")
    if len(prepared.encode("utf-8")) > MAX_PART_OCTETS:
        raise LocalProtocolError("a JID localpart is at most 1023 octets")
    return prepared


def _check_user_id(user_id: int, what: str = "user id") -> None:
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise LocalProtocolError(f"a {what} is a positive integer, not {user_id!r}")
    if user_id >= 10**MAX_ID_DIGITS:
        raise LocalProtocolError(f"a {what} has at most {MAX_ID_DIGITS} digits")


def user_jid(user_id: int, app_id: int, chat_host: str) -> str:
    """A user's bare JID, ``{userId}-{appId}@{chatHost}``."""
    _check_user_id(user_id)
    _check_user_id(app_id, "app id")
    return f"{user_id}-{app_id}@{prepare_domain(chat_host)}"


def room_jid(dialog_id: str, app_id: int, muc_host: str) -> str:
    """A group dialog's room JID, ``{appId}_{dialogId}@{mucHost}``."""
    _check_user_id(app_id, "app id")
    if not isinstance(dialog_id, str) or not dialog_id:
        raise LocalProtocolError(f"a dialog id is a non-empty string, not {dialog_id!r}")
    return f"{prepare_localpart(f'{app_id}_{dialog_id}')}@{prepare_domain(muc_host)}"


def occupant_jid(room: str, user_id: int) -> str:
    """The occupant JID of a user in a room: the nick is the user id."""
    _check_user_id(user_id)
    return f"{room}/{user_id}"
