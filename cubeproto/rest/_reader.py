"""Checked access to decoded JSON: every wrong type becomes a ResponseFormatError.

Parsers read the server's JSON through :class:`Obj` instead of indexing dicts, so a missing key
or a value of the wrong type is reported with its path (``items[2].occupants_ids[0]``) and
never escapes as KeyError/TypeError.  Each accessor records the key it consumed; ``extra()``
returns the keys nobody asked for, which the models keep for forward compatibility.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from .errors import ResponseFormatError, format_path

T = TypeVar("T")

_MISSING: Any = object()


class Ctx:
    """The response a value came from, for error messages."""

    __slots__ = ("body", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body

    def fail(self, path: tuple[str | int, ...], problem: str) -> NoReturn:
        raise ResponseFormatError(
            path=format_path(path), problem=problem, status=self.status, body=self.body
        )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def decode_json(ctx: Ctx) -> Any:
    """The body as JSON, or a ResponseFormatError saying why it is not."""
    if not ctx.body.strip():
        ctx.fail((), "empty body where JSON was expected")
    try:
        text = ctx.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.fail((), f"body is not UTF-8 ({exc.reason} at byte {exc.start})")
    try:
        return json.loads(text)
    except RecursionError:
        ctx.fail((), "JSON nested too deeply")
    except ValueError as exc:
        ctx.fail((), f"body is not JSON ({exc})")


def freeze(value: Any) -> Any:
    """Read-only views of raw JSON containers (dicts become mappingproxies, lists tuples)."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def as_int(ctx: Ctx, path: tuple[str | int, ...], value: Any, *, lenient: bool = False) -> int:
    """An integer; integral floats are accepted, numeric strings only when ``lenient``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if lenient and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    ctx.fail(path, f"expected an integer, got {_kind(value)}")


def as_timestamp(ctx: Ctx, path: tuple[str | int, ...], value: Any) -> datetime:
    """Unix seconds (int/float) or an ISO-8601 string, as an aware UTC datetime."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            ctx.fail(path, f"unix timestamp {value!r} out of range")
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            ctx.fail(path, f"not an ISO-8601 timestamp: {value[:40]!r}")
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    ctx.fail(path, f"expected a timestamp, got {_kind(value)}")


class Obj:
    """A JSON object being read; ``path`` is where it sits in the body."""

    __slots__ = ("ctx", "data", "path", "used")

    def __init__(self, ctx: Ctx, data: Any, path: tuple[str | int, ...] = ()) -> None:
        if not isinstance(data, dict):
            ctx.fail(path, f"expected an object, got {_kind(data)}")
        self.ctx = ctx
        self.data: dict[str, Any] = data
        self.path = path
        self.used: set[str] = set()

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.ctx.fail(self.path, f"missing key {key!r}")
            return None
        return value

    def raw(self, key: str) -> Any:
        return self._get(key, False)

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            self.ctx.fail((*self.path, key), f"expected a string, got {_kind(value)}")
        return value

    def id_str(self, key: str, *, required: bool = False) -> str | None:
        """A string id that some servers send as a number (kept as its decimal text)."""
        value = self._get(key, required)
        if value is None and not required:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            self.ctx.fail((*self.path, key), f"expected an id string, got {_kind(value)}")
        return value

    def integer(self, key: str, *, required: bool = False, lenient: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        return as_int(self.ctx, (*self.path, key), value, lenient=lenient)

    def req_int(self, key: str, *, lenient: bool = False) -> int:
        value = self._get(key, True)
        return as_int(self.ctx, (*self.path, key), value, lenient=lenient)

    def req_text(self, key: str) -> str:
        value = self.text(key, required=True)
        assert value is not None
        return value

    def flag(self, key: str) -> bool | None:
        """``true``/``false`` or the 0/1 (number or string) the server also uses."""
        value = self._get(key, False)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1"):
            return value in (1, "1")
        self.ctx.fail((*self.path, key), f"expected a boolean or 0/1, got {_kind(value)}")

    def timestamp(self, key: str) -> datetime | None:
        value = self._get(key, False)
        if value is None:
            return None
        return as_timestamp(self.ctx, (*self.path, key), value)

    def int_list(self, key: str) -> tuple[int, ...]:
        return self.array(key, lambda p, v: as_int(self.ctx, p, v, lenient=True))

    def str_list(self, key: str) -> tuple[str, ...]:
        def item(p: tuple[str | int, ...], v: Any) -> str:
            if isinstance(v, int) and not isinstance(v, bool):
                return str(v)
            if not isinstance(v, str):
                self.ctx.fail(p, f"expected a string, got {_kind(v)}")
            return v

        return self.array(key, item)

    def array(self, key: str, item: Callable[[tuple[str | int, ...], Any], T]) -> tuple[T, ...]:
        """A JSON array (absent or null -> empty), each element converted by ``item``."""
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list):
            self.ctx.fail((*self.path, key), f"expected an array, got {_kind(value)}")
        return tuple(item((*self.path, key, i), v) for i, v in enumerate(value))

    def obj(self, key: str, *, required: bool = False) -> Obj | None:
        value = self._get(key, required)
        if value is None and not required:
            return None
        return Obj(self.ctx, value, (*self.path, key))

    def req_obj(self, key: str) -> Obj:
        value = self._get(key, True)
        return Obj(self.ctx, value, (*self.path, key))

    def mapping(self, key: str) -> Mapping[str, Any] | None:
        """A nested object kept as a read-only raw mapping (extensions, permissions)."""
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.ctx.fail((*self.path, key), f"expected an object, got {_kind(value)}")
        result: Mapping[str, Any] = freeze(value)
        return result

    def extra(self) -> Mapping[str, Any]:
        """Every key not consumed by an accessor, frozen."""
        return MappingProxyType({k: freeze(v) for k, v in self.data.items() if k not in self.used})
