"""Custom objects: records of an application-defined class under ``/data``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import LocalProtocolError
from ..models import CustomObject, CustomObjectList
from ..responses import parse_custom_object, parse_custom_object_list
from ..restrequest import DEFAULT_BASE_URL, RestRequest, build, check_segment
from ._checks import add_filters, add_paging, add_sorting


def create_custom_object(
    class_name: str,
    fields: Mapping[str, Any],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObject]:
    """``POST /data/{class}.json`` with the record's fields."""
    segment = check_segment(class_name, "class name")
    if not isinstance(fields, Mapping):
        raise LocalProtocolError("fields must be a mapping")
    return build(
        "POST",
        ["data", segment],
        parse_custom_object,
        params=dict(fields),
        token=token,
        base_url=base_url,
    )


def create_custom_objects(
    class_name: str,
    records: Sequence[Mapping[str, Any]],
    *,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObjectList]:
    """``POST /data/{class}/multi.json`` ``{"record":{"1":{...},"2":{...}}}`` (numbered from 1
    as the SDK does; the docs start at 0)."""
    segment = check_segment(class_name, "class name")
    if not records:
        raise LocalProtocolError("records must not be empty")
    params = {"record": {str(i): dict(r) for i, r in enumerate(records, start=1)}}
    return build(
        "POST",
        ["data", segment, "multi"],
        parse_custom_object_list,
        params=params,
        token=token,
        base_url=base_url,
    )


def list_custom_objects(
    class_name: str,
    *,
    filters: Mapping[str, Any] | None = None,
    limit: int | None = None,
    skip: int | None = None,
    sort_asc: str | None = None,
    sort_desc: str | None = None,
    token: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
) -> RestRequest[CustomObjectList]:
    """``GET /data/{class}.json`` with the same filter forms as dialogs."""
    segment = check_segment(class_name, "class name")
    params: dict[str, Any] = {}
    add_filters(params, filters)
    add_paging(params, limit, skip)
    add_sorting(params, sort_asc, sort_desc)
    return build(
        "GET",
        ["data", segment],
        parse_custom_object_list,
        params=params or None,
        token=token,
        base_url=base_url,
    )
