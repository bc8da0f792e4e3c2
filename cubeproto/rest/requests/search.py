"""Search across dialogs, messages and users."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ...errors import LocalProtocolError
from ..models import SearchResult
from ..responses import parse_search
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build, check_segment
from ._checks import add_paging, text_arg


def _iso_date(value: datetime | int, what: str) -> str:
    """JS ``new Date(x).toISOString()``: ints are milliseconds; output has ``.mmmZ``."""
    if isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be a datetime or int milliseconds")
    if isinstance(value, int):
        try:
            moment = datetime.fromtimestamp(value / 1000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise LocalProtocolError(f"{what} {value} is out of range") from exc
        millis = value % 1000
    elif isinstance(value, datetime):
        if value.tzinfo is None:
            raise LocalProtocolError(f"{what} must be timezone-aware")
        moment = value.astimezone(timezone.utc)
        millis = moment.microsecond // 1000
    else:
        raise LocalProtocolError(f"{what} must be a datetime or int milliseconds")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def search(
    search_text: str,
    *,
    chat_dialog_ids: Sequence[str] | None = None,
    start_date: datetime | int | None = None,
    end_date: datetime | int | None = None,
    limit: int | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[SearchResult]:
    """``GET /chat/search.json``.  Dates: aware datetimes or int milliseconds
    (as JS ``Date``), sent as ``2016-03-23T17:00:42.000Z``; ``end_date`` goes with
    ``start_date``."""
    params: dict[str, Any] = {"search_text": text_arg(search_text, "search_text")}
    if (start_date is None) != (end_date is None):
        raise LocalProtocolError("start_date and end_date go together")
    if start_date is not None and end_date is not None:
        params["start_date"] = _iso_date(start_date, "start_date")
        params["end_date"] = _iso_date(end_date, "end_date")
    if chat_dialog_ids is not None:
        if isinstance(chat_dialog_ids, str):
            raise LocalProtocolError("chat_dialog_ids must be a sequence of dialog ids")
        params["chat_dialog_ids"] = ",".join(check_segment(i, "dialog id") for i in chat_dialog_ids)
    add_paging(params, limit, None)
    return build(
        "GET", ["chat", "search"], parse_search, params=params, token=token, base_url=base_url
    )
