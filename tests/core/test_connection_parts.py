"""The connections are assembled from parts (mixins of one object, see
``cubeproto/_client_base.py`` and ``cubeproto/_server_base.py``); the methods one part
calls in another are declared on the shared base as stubs.  Every stub must be overridden
by a real method in the assembled class: a stub reached at run time would be a crash in
the middle of a stream."""

from __future__ import annotations

import inspect

import pytest

from cubeproto._client_base import ClientParts
from cubeproto._connection import ClientConnection
from cubeproto._server_base import ServerParts
from cubeproto._server_connection import ServerConnection
from cubeproto._stream import StreamEndpoint


def _stubs(cls: type) -> list[str]:
    """Methods of ``cls`` whose whole body is ``raise NotImplementedError``."""
    names = []
    for name, value in vars(cls).items():
        if inspect.isfunction(value):
            body = inspect.getsource(value).rstrip().splitlines()[-1].strip()
            if body == "raise NotImplementedError":
                names.append(name)
    return names


@pytest.mark.parametrize(
    ("assembled", "bases"),
    [
        (ClientConnection, (ClientParts, StreamEndpoint)),
        (ServerConnection, (ServerParts, StreamEndpoint)),
    ],
    ids=["client", "server"],
)
def test_every_stub_is_overridden(assembled: type, bases: tuple[type, ...]) -> None:
    stubs = [(base, name) for base in bases for name in _stubs(base)]
    assert stubs, "the bases declare the parts' cross-calls as stubs"
    reached = [
        f"{base.__name__}.{name}"
        for base, name in stubs
        if getattr(assembled, name) is vars(base)[name]
    ]
    assert reached == []


def test_the_parts_add_no_per_instance_dictionary() -> None:
    """The client connection stays slotted: its parts declare no slots of their own and
    no instance dictionary (a misspelt attribute is an AttributeError, not a new one)."""
    conn = ClientConnection.__new__(ClientConnection)
    assert not hasattr(conn, "__dict__")
