"""Argument checks and parameter helpers every builder of the catalogue shares.

A request that exists is one the server can read: each check raises
:class:`~cubeproto.errors.LocalProtocolError` for a value the API would refuse, before any
request object is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from ...errors import LocalProtocolError
from ..restrequest import check_segment

#: A field name to sort by (``sort_asc="date_sent"``).
SortField = str
#: Parameters that have their own keyword argument; a filter may not smuggle them in.
RESERVED_PARAMS: Final = frozenset(
    {"limit", "skip", "sort_asc", "sort_desc", "count", "chat_dialog_id", "mark_as_read", "preview"}
)


def text_arg(value: object, what: str) -> str:
    """``value`` when it is a str (ids, names, texts); anything else is the caller's mistake."""
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(value).__name__}")
    return value


def non_negative_int(value: object, what: str) -> int:
    """``value`` when it is an int >= 0 (a user id, a count, a size); bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LocalProtocolError(f"{what} must be a non-negative int, got {value!r}")
    return value


def ids_segment(ids: str | Sequence[str], what: str) -> str:
    """One id or several joined with a bare comma."""
    items = [ids] if isinstance(ids, str) else list(ids)
    if not items:
        raise LocalProtocolError(f"at least one {what} is required")
    return ",".join(check_segment(i, what) for i in items)


def add_paging(params: dict[str, Any], limit: int | None, skip: int | None) -> None:
    """``limit`` and ``skip`` into ``params``, when given."""
    if limit is not None:
        params["limit"] = non_negative_int(limit, "limit")
    if skip is not None:
        params["skip"] = non_negative_int(skip, "skip")


def add_sorting(params: dict[str, Any], sort_asc: str | None, sort_desc: str | None) -> None:
    """``sort_asc`` or ``sort_desc`` into ``params`` (one at most: the server honours one)."""
    if sort_asc is not None and sort_desc is not None:
        raise LocalProtocolError("give sort_asc or sort_desc, not both")
    if sort_asc is not None:
        params["sort_asc"] = text_arg(sort_asc, "sort_asc")
    if sort_desc is not None:
        params["sort_desc"] = text_arg(sort_desc, "sort_desc")


def add_filters(params: dict[str, Any], filters: Mapping[str, Any] | None) -> None:
    """``{"updated_at": {"gt": 1700000000}, "type": {"in": [2, 3]}}`` -> ``field[op]=...``."""
    if filters is None:
        return
    if not isinstance(filters, Mapping):
        raise LocalProtocolError("filters must be a mapping of field -> value or {op: value}")
    for key, value in filters.items():
        if key in params or key in RESERVED_PARAMS:
            raise LocalProtocolError(f"filter {key!r} clashes with a named argument")
        params[key] = value
