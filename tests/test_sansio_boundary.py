"""The one hard boundary of DESIGN.md: nothing under cubeproto/ performs I/O or reads a clock.

Every core module is imported in a fresh interpreter in which the I/O modules cannot be
imported and the clock functions raise.  ``cubeproto.transports`` is the adapters' home and
is excluded on purpose.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cubeproto

BLOCKED_MODULES = [
    "socket",
    "ssl",
    "select",
    "selectors",
    "asyncio",
    "trio",
    "anyio",
    "threading",
    "subprocess",
    "urllib.request",
    "http.client",
]


def core_modules() -> list[str]:
    root = Path(cubeproto.__file__).parent
    names = ["cubeproto"]
    for info in pkgutil.walk_packages([str(root)], prefix="cubeproto."):
        if info.name.startswith("cubeproto.transports"):
            continue
        names.append(info.name)
    return sorted(names)


def test_there_are_core_modules_to_check() -> None:
    assert "cubeproto.errors" in core_modules()
    assert not any(m.startswith("cubeproto.transports") for m in core_modules())


def test_core_imports_with_io_and_clocks_blocked() -> None:
    modules = core_modules()
    script = textwrap.dedent(
        f"""
        import sys, time, importlib.abc

        BLOCKED = {BLOCKED_MODULES!r}
        # lxml and friends may already have pulled some of these in while importing;
        # forget them so that any import from the core would be seen.
        for name in list(sys.modules):
            if name.split(".")[0] in {{b.split(".")[0] for b in BLOCKED}}:
                del sys.modules[name]

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name in BLOCKED or any(name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError("sans-IO boundary: core imported " + name)
                return None

        sys.meta_path.insert(0, Blocker())

        def clock(*a, **k):
            raise AssertionError("sans-IO boundary: core read a clock")

        for fn in ("time", "monotonic", "perf_counter", "sleep", "time_ns",
                   "monotonic_ns", "perf_counter_ns"):
            setattr(time, fn, clock)

        import importlib
        for mod in {modules!r}:
            importlib.import_module(mod)
        print("ok", len({modules!r}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_blocker_really_blocks() -> None:
    """The check above must be able to fail: a module that imports socket is caught."""
    script = textwrap.dedent(
        """
        import sys, importlib.abc
        sys.modules.pop("socket", None)
        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "socket":
                    raise ImportError("blocked")
                return None
        sys.meta_path.insert(0, Blocker())
        import socket
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode != 0 and "blocked" in out.stderr
