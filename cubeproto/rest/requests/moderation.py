"""Moderation: reports of users and messages, stored as the custom objects
``UserReports`` and ``MessageReports`` that the ConnectyCube dashboard reads.
"""

from __future__ import annotations

from ..models import CustomObject
from ..restrequest import DEFAULT_BASE_URL, RestRequest, check_segment
from ._checks import non_negative_int, text_arg
from .custom_objects import create_custom_object


def report_user(
    reported_user_id: int,
    reason: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/UserReports.json`` ``{"reportedUserId": N, "reason": "..."}``."""
    fields = {
        "reportedUserId": non_negative_int(reported_user_id, "reported_user_id"),
        "reason": text_arg(reason, "reason"),
    }
    return create_custom_object("UserReports", fields, token=token, base_url=base_url)


def report_message(
    reported_message_id: str,
    reason: str,
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/MessageReports.json``; the 24-hex id is sent as a string."""
    fields = {
        "reportedMessageId": check_segment(reported_message_id, "message id"),
        "reason": text_arg(reason, "reason"),
    }
    return create_custom_object("MessageReports", fields, token=token, base_url=base_url)
