"""The distribution ships every package, and transports/ imports as cubeproto.transports
from a regular (non-editable) install as well as from the editable one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]


def tree_packages() -> set[str]:
    found = set()
    for base, name in (
        (ROOT / "cubeproto", "cubeproto"),
        (ROOT / "transports", "cubeproto.transports"),
    ):
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    return found


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    assert listed == tree_packages()


def test_regular_install_imports_everything(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    modules = sorted(tree_packages())
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(target)!r}), module.__file__\n"
        "import cubeproto, pathlib\n"
        "assert (pathlib.Path(cubeproto.__file__).parent / 'py.typed').exists()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


USER_SCRIPT = """\
import cubeproto
from cubeproto.chat import MessageReceived
from cubeproto.transports.blocking_chat import ChatClient

version: str = cubeproto.__version__
kind: type[MessageReceived] = MessageReceived
client: type[ChatClient] = ChatClient
wrong: int = cubeproto.__version__
"""


def _mypy_sees_cubeproto(python: str, tmp_path: Path) -> None:
    """mypy --strict, run on a user's script against the environment of ``python``, type
    checks cubeproto's names: the one deliberate error is found, nothing is missing."""
    script = tmp_path / "user_script.py"
    script.write_text(USER_SCRIPT)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--python-executable", python, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert "import-not-found" not in out.stdout, out.stdout
    assert out.stdout.count("error:") == 1, out.stdout
    assert 'variable has type "int"' in out.stdout, out.stdout


def test_wheel_alone_in_a_fresh_venv(tmp_path: Path) -> None:
    """The wheel installed without extras: imports, ``cubeproto --help``/``--version`` work,
    ``serve`` names the missing extra, pytest still runs (the plugin loads) and a test that
    asks for a local-server fixture fails with the extra to install; mypy sees the types."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("cubeproto-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, bin_dir = str(venv / "bin" / "python"), venv / "bin"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel), "pytest"],
        check=True,
        capture_output=True,
    )
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path)

    probe = run(python, "-c", "import anyio")
    assert probe.returncode != 0, "the fresh venv must lack the server extra for this test"
    imported = run(python, "-c", "import cubeproto, cubeproto.chat, cubeproto.rest; print('ok')")
    assert imported.stdout.strip() == "ok", imported.stderr
    helped = run(str(bin_dir / "cubeproto"), "--help")
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr
    version = run(str(bin_dir / "cubeproto"), "--version")
    assert version.stdout.strip() == f"cubeproto {_version()}", version.stderr
    serve = run(str(bin_dir / "cubeproto"), "serve")
    assert serve.returncode == 2
    assert "pip install 'cubeproto[server]'" in serve.stderr, serve.stderr
    assert "Traceback" not in serve.stderr
    (tmp_path / "test_users.py").write_text(
        "def test_plain():\n    assert 1 + 1 == 2\n\n"
        "def test_needs_server(cube_user):\n    cube_user('alice')\n"
    )
    tested = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_users.py")
    assert "1 passed" in tested.stdout and "1 error" in tested.stdout, tested.stdout
    assert "needs the 'server' extra" in tested.stdout, tested.stdout
    assert "Error while loading plugin" not in tested.stdout + tested.stderr
    _mypy_sees_cubeproto(python, tmp_path)


def test_type_checkers_see_an_editable_install_in_strict_mode(tmp_path: Path) -> None:
    """The README's editable install for type checking: setuptools' default editable mode
    maps ``transports/`` to ``cubeproto.transports`` with an import hook, which mypy does
    not run ("Cannot find implementation or library stub for module named 'cubeproto'");
    ``--config-settings editable_mode=strict`` builds a link tree that mypy reads."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")

    def pip(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, "-m", "pip", "install", "-q", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )

    # the build backend as pyproject.toml asks for it (a venv's bundled one is older)
    assert pip("setuptools>=77", "wheel").returncode == 0
    installed = pip(
        "--no-build-isolation", "-e", str(ROOT), "--config-settings", "editable_mode=strict"
    )
    assert installed.returncode == 0, installed.stderr
    _mypy_sees_cubeproto(python, tmp_path)


def _version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "cubeproto" / "_version.py").read_text(), namespace)
    return namespace["__version__"]
