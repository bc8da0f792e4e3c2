"""The one hard boundary of DESIGN.md: nothing under cubeproto/ performs I/O or reads a clock.

Every core module is imported in a fresh interpreter in which the I/O modules cannot be
imported *by a core module* and the clock functions raise.  Third-party libraries the core
depends on may import what they like (scramp imports ssl for isinstance checks and never
does I/O for us).  ``cubeproto.transports`` is the adapters' home and is excluded on purpose.
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


def blocker_prelude(prefix: str) -> str:
    """Python source that installs the import blocker for modules named ``prefix*`` and
    makes every clock function raise."""
    return textwrap.dedent(
        f"""
        import sys, time, importlib.abc

        BLOCKED = {BLOCKED_MODULES!r}
        # Forget already-imported copies so that an import from the core would be seen.
        for name in list(sys.modules):
            if name.split(".")[0] in {{b.split(".")[0] for b in BLOCKED}}:
                del sys.modules[name]

        def importer_is_core():
            # The first frame outside the import machinery runs the import statement.
            frame = sys._getframe(2)
            while frame is not None and (
                frame.f_code.co_filename.startswith("<frozen")
                or "importlib" in frame.f_code.co_filename
            ):
                frame = frame.f_back
            name = frame.f_globals.get("__name__", "") if frame is not None else ""
            return name.startswith({prefix!r}) and ".transports" not in name

        class Blocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                blocked = name in BLOCKED or any(name.startswith(b + ".") for b in BLOCKED)
                if blocked and importer_is_core():
                    raise ImportError("sans-IO boundary: core imported " + name)
                return None

        sys.meta_path.insert(0, Blocker())

        def clock(*a, **k):
            raise AssertionError("sans-IO boundary: core read a clock")

        for fn in ("time", "monotonic", "perf_counter", "sleep", "time_ns",
                   "monotonic_ns", "perf_counter_ns"):
            setattr(time, fn, clock)
        """
    )


def core_modules() -> list[str]:
    root = Path(cubeproto.__file__).parent
    names = ["cubeproto"]
    for info in pkgutil.walk_packages([str(root)], prefix="cubeproto."):
        if info.name.startswith("cubeproto.transports"):
            continue
        names.append(info.name)
    return sorted(names)


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def test_there_are_core_modules_to_check() -> None:
    assert "cubeproto.errors" in core_modules()
    assert not any(m.startswith("cubeproto.transports") for m in core_modules())


def test_core_imports_with_io_and_clocks_blocked() -> None:
    modules = core_modules()
    script = blocker_prelude("cubeproto") + textwrap.dedent(
        f"""
        import importlib
        for mod in {modules!r}:
            importlib.import_module(mod)
        print("ok", len({modules!r}))
        """
    )
    out = run(script)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_blocker_catches_an_import_made_by_a_core_module(tmp_path: Path) -> None:
    """The check above must be able to fail: a core-like module importing socket is caught."""
    pkg = tmp_path / "cubeproto_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import json\nimport socket\n")
    script = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n" + blocker_prelude(
        "cubeproto_probe"
    )
    out = run(script + "import cubeproto_probe\n")
    assert out.returncode != 0
    assert "sans-IO boundary: core imported socket" in out.stderr


def test_blocker_catches_a_clock_read(tmp_path: Path) -> None:
    pkg = tmp_path / "cubeproto_clock"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import time\nNOW = time.monotonic()\n")
    script = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\n" + blocker_prelude(
        "cubeproto_clock"
    )
    out = run(script + "import cubeproto_clock\n")
    assert out.returncode != 0
    assert "core read a clock" in out.stderr
