"""A runtime check of the sans-IO boundary: I/O, clocks and unseeded randomness reached
while core code (``cubeproto``, not ``cubeproto.transports``) is on the call stack.

The import-time check in ``test_sansio_boundary.py`` cannot see a ``datetime.now()``, a
clock read or a lazy ``import socket`` inside a function.  :func:`forbid_io` watches code
as it runs, with two hooks that are removed on exit:

* ``sys.setprofile``: every call of a C function that reads a clock or the OS's
  randomness or does I/O (``time.time``/``monotonic``/..., ``datetime.now``/``today``,
  ``os.urandom``, ``open``, the module-level ``random`` functions, anything in
  ``_socket``/``_ssl``/``select``/``_thread``/``posix``), and every call of a Python
  function defined in an I/O module (``socket``, ``ssl``, ``asyncio``, ``threading``,
  ``subprocess``, ...), is recorded when a core frame is on the stack: whoever makes
  the call (the core, or a library the core called) it is made on the core's behalf.
* ``builtins.__import__``: an ``import`` statement in a core module that names an I/O
  module is recorded even when the module is already loaded (a lazy import).

Violations are recorded, not raised: the core catches exceptions in places (a peer's
bad input becomes a stream error), which would hide a raise.  The caller asserts the
list is empty.
"""

from __future__ import annotations

import builtins
import datetime
import gc
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import Any

#: Python modules whose functions are I/O (or threads, or event loops).
IO_MODULES = frozenset(
    {
        "socket",
        "ssl",
        "select",
        "selectors",
        "asyncio",
        "trio",
        "anyio",
        "threading",
        "subprocess",
        "urllib",
        "http",
        "shutil",
        "tempfile",
        "sqlite3",
    }
)
#: C modules every function of which is I/O (files, sockets, threads, the process).
#: (``_io`` calls itself ``io`` up to Python 3.11 and ``_io`` from 3.12.)
IO_C_MODULES = frozenset({"_socket", "_ssl", "select", "_thread", "posix", "nt", "io", "_io"})
#: Functions of the ``time`` module that read a clock or wait.
CLOCKS = frozenset(
    getattr(time, name)
    for name in (
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "process_time",
        "process_time_ns",
        "thread_time",
        "thread_time_ns",
        "sleep",
        "localtime",
        "gmtime",
        "ctime",
        "asctime",
    )
)
#: Pure functions of the C modules above that the core may use.
ALLOWED = frozenset({os.fspath, os.fsencode, os.fsdecode})
DATE_NOW = frozenset({"now", "utcnow", "today"})


def _is_core(frame: FrameType | None) -> bool:
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if (
            isinstance(name, str)
            and name.startswith("cubeproto")
            and not name.startswith("cubeproto.transports")
        ):
            return True
        frame = frame.f_back
    return False


def _forbidden_c(function: Any) -> bool:
    if function in CLOCKS:
        return True
    owner = getattr(function, "__self__", None)
    if isinstance(owner, ModuleType):
        return owner.__name__ in IO_C_MODULES and function not in ALLOWED
    if owner is random._inst:  # type: ignore[attr-defined]
        return True  # random.random() and friends: the unseeded global generator
    return (
        isinstance(owner, type)
        and issubclass(owner, datetime.date)
        and getattr(function, "__name__", "") in DATE_NOW
    )


@contextmanager
def forbid_io() -> Iterator[list[str]]:
    """Record, in the list this yields, every I/O, clock or unseeded-randomness use made
    while a core frame is on the stack."""
    violations: list[str] = []
    original_import = builtins.__import__

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            if _forbidden_c(arg) and _is_core(frame):
                violations.append(f"{getattr(arg, '__qualname__', arg)!s} called from core")
        elif event == "call":
            module = frame.f_globals.get("__name__", "")
            if (
                isinstance(module, str)
                and module.split(".", 1)[0] in IO_MODULES
                and _is_core(frame.f_back)
            ):
                violations.append(f"{module}.{frame.f_code.co_name} called from core")

    def guarded_import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: Any = None,
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        importer = (globals or {}).get("__name__", "")
        if (
            level == 0
            and name.split(".", 1)[0] in IO_MODULES
            and isinstance(importer, str)
            and importer.startswith("cubeproto")
            and not importer.startswith("cubeproto.transports")
        ):
            violations.append(f"{importer} imported {name}")
        return original_import(name, globals, locals, fromlist, level)

    previous = sys.getprofile()
    # A garbage collection can start inside any allocation, core code's too, and run
    # other code's gc callbacks there (hypothesis times collections with perf_counter):
    # not the core's doing, so no automatic collection while the guard watches.
    collecting = gc.isenabled()
    gc.disable()
    builtins.__import__ = guarded_import
    sys.setprofile(profile)
    try:
        yield violations
    finally:
        sys.setprofile(previous)
        builtins.__import__ = original_import
        if collecting:
            gc.enable()
