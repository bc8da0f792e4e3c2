"""The API reference (docs/api/, autodoc) documents every public class and function
exactly once: a name exported by several public modules (the chat vocabulary by
``cubeproto`` and ``cubeproto.chat``) is skipped everywhere but in its home, so the home must
export it too, or it would vanish from the reference.  The build itself (``make docs``, warnings
as errors) runs in ``make test``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def load_conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    return conf


CONF = load_conf()


def test_every_documented_module_has_an_automodule() -> None:
    api = "".join(page.read_text() for page in sorted((DOCS / "api").glob("*.rst")))
    for module in CONF.DOCUMENTED:
        assert f".. automodule:: {module}\n   :members:" in api, module


def kept_in(module_name: str, name: str, obj: object) -> bool:
    """Whether autodoc, documenting ``module_name``'s members, keeps ``name`` (conf.py's hook)."""
    CONF._current_module[0] = module_name
    return CONF._skip_if_documented_elsewhere(None, "module", name, obj, False, {}) is not True


@pytest.mark.parametrize("module_name", CONF.DOCUMENTED)
def test_every_exported_class_and_function_is_documented_once_at_least(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # constants and type aliases: autodoc documents none without a doc comment
        exporters = [
            other
            for other in CONF.DOCUMENTED
            if getattr(importlib.import_module(other), name, None) is obj
            and name in importlib.import_module(other).__all__
        ]
        kept = [other for other in exporters if kept_in(other, name, obj)]
        assert kept, f"{module_name}.{name} is skipped by every module that exports it"
        # autodoc leaves out what has no docstring (docs/api/ does not ask for :undoc-members:).
        assert inspect.getdoc(obj), f"{kept[0]}.{name} has no docstring"


def test_the_chat_vocabulary_is_documented_in_cubeproto_chat_only() -> None:
    import cubeproto.chat

    message = cubeproto.chat.SendMessage
    assert kept_in("cubeproto.chat", "SendMessage", message)
    assert not kept_in("cubeproto", "SendMessage", message)
    assert kept_in("cubeproto", "Connected", cubeproto.Connected)


def test_home_is_the_longest_documented_prefix() -> None:
    assert CONF.home("cubeproto.chat.commands") == "cubeproto.chat"
    assert CONF.home("cubeproto.events") == "cubeproto"
    assert CONF.home("cubeproto.rest.requests.auth") == "cubeproto.rest.requests"
    assert CONF.home("cubeproto.transports.anyio_chat") == "cubeproto.transports.anyio_chat"
    assert CONF.home("cubeproto.transports._tls") == "cubeproto"
    assert CONF.home("cubeprotocol") is None
    assert CONF.home("anyio") is None
