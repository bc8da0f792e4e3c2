"""The list filters of the REST API (``field=value``, ``field[op]=value``) and the search
window, as the server applies them to dialogs, messages and search results."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .common import ApiError

__all__ = ["MAX_SEARCH_WINDOW_SECONDS", "matches", "search_window"]


#: The longest search window the API accepts (ConnectyCube's search documentation:
#: ``end_date`` at most 3 months after ``start_date``).
MAX_SEARCH_WINDOW_SECONDS = 92 * 86400


def search_window(p: dict[str, Any]) -> tuple[float, float] | None:
    """The messages' ``date_sent`` window of a search: ``start_date`` and ``end_date``
    (ISO-8601 as the SDK sends them, or unix seconds) come together and bound it inclusively.

    ConnectyCube's documentation says the server compares ``start_date`` with ``lte`` and
    ``end_date`` with ``gte``; which of the two is the older bound is not certain, so the
    window runs from the earlier to the later of them, which is right under either reading.
    """
    start, end = p.get("start_date"), p.get("end_date")
    if start in (None, "") and end in (None, ""):
        return None
    if start in (None, "") or end in (None, ""):
        raise ApiError(422, {"base": ["start_date and end_date are required together"]})
    a, b = as_moment(start), as_moment(end)
    if a is None or b is None:
        raise ApiError(422, {"base": ["start_date and end_date must be ISO-8601 dates"]})
    low, high = min(a, b), max(a, b)
    if high - low > MAX_SEARCH_WINDOW_SECONDS:
        raise ApiError(422, {"base": ["the search window is at most 3 months"]})
    return low, high


CONTROL = {
    "limit",
    "skip",
    "sort_asc",
    "sort_desc",
    "mark_as_read",
    "preview",
    "count",
    "chat_dialog_id",
}


def matches(record: dict[str, Any], p: dict[str, Any], skip: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """The REST filters: ``field=value`` and ``field[op]=value``."""
    for key, cond in p.items():
        if key in CONTROL or key in skip:
            continue
        if key == "extensions" and isinstance(cond, dict):
            ext = record.get("extensions") or {}
            if any(str(ext.get(k)) != str(v) for k, v in cond.items()):
                return False
            continue
        value = record.get(key)
        if key in DATE_FIELDS:
            conds = cond if isinstance(cond, dict) else {"eq": cond}
            if not all(date_op(key, op, value, raw) for op, raw in conds.items()):
                return False
            continue
        if isinstance(cond, dict):
            for op, raw in cond.items():
                if not apply_op(op, value, raw):
                    return False
        elif str(value) != str(cond):
            return False
    return True


#: Fields that hold a moment.  The API's tables call them unix timestamps while its
#: examples show ISO-8601 strings (dialog and message lists), and the SDK passes
#: whatever the application wrote: a filter on one of them takes either form and compares
#: moments, never the strings.
DATE_FIELDS = frozenset({"created_at", "updated_at", "date_sent", "last_message_date_sent"})


def as_moment(value: Any) -> float | None:
    """Unix seconds from a number, a numeric string or an ISO-8601 string; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def date_op(key: str, op: str, value: Any, raw: Any) -> bool:
    """One filter on a date field; a value that is no moment is refused (422), since an
    empty answer would claim that nothing matched."""
    if op in ("in", "nin"):
        wanted = [as_moment(item) for item in str(raw).split(",")]
        if None in wanted:
            raise ApiError(422, {key: [f"{op} takes unix timestamps or ISO-8601 dates"]})
        found = as_moment(value) in wanted
        return found if op == "in" else not found
    bound = as_moment(raw)
    if bound is None or op not in ORDER:
        raise ApiError(
            422, {key: [f"{op}: {str(raw)[:64]!r} is not a unix timestamp or an ISO-8601 date"]}
        )
    moment = as_moment(value)
    if moment is None:
        return op == "ne"
    return ORDER[op](moment, bound)


ORDER: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def number_or_text(value: Any) -> float | str:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def apply_op(op: str, value: Any, raw: Any) -> bool:
    items = [s.strip() for s in str(raw).split(",")]
    a, b = number_or_text(value), number_or_text(raw)
    try:
        if op == "lt":
            return a < b  # type: ignore[operator]
        if op == "lte":
            return a <= b  # type: ignore[operator]
        if op == "gt":
            return a > b  # type: ignore[operator]
        if op == "gte":
            return a >= b  # type: ignore[operator]
    except TypeError:
        return False
    if op == "ne":
        return str(value) != str(raw)
    if op == "in":
        return str(value) in items
    if op == "nin":
        return str(value) not in items
    if op == "ctn":
        return str(raw) in str(value or "")
    if op == "all":
        return isinstance(value, list) and all(i in [str(v) for v in value] for i in items)
    return True
