"""cubeproto._records's constructors build the same frozen objects as the class itself."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cubeproto._records import fast_constructor, field_storer, positional_constructor
from cubeproto.chat.events import MessageReceived, MessageType
from cubeproto.commands import HandlerResult, OutboundStanza


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Sample:
    a: int
    b: str = "b"
    c: list[int] = dataclasses.field(default_factory=list)
    d: str = dataclasses.field(init=False, default="fixed")


new_sample = fast_constructor(_Sample)


@given(
    st.one_of(st.none(), st.text()),
    st.sampled_from(MessageType),
    st.text(),
    st.one_of(st.none(), st.integers()),
    st.dictionaries(st.text(), st.text()),
    st.booleans(),
)
def test_same_object_as_the_class_constructor(
    message_id: str | None,
    kind: MessageType,
    body: str,
    sender: int | None,
    extension: dict[str, str],
    markable: bool,
) -> None:
    kwargs = {
        "message_id": message_id,
        "type": kind,
        "from_jid": "78-105@host/r",
        "to_jid": None,
        "sender_id": sender,
        "recipient_id": None,
        "dialog_id": None,
        "body": body,
        "extension": extension,
        "markable": markable,
    }
    fast = fast_constructor(MessageReceived)(**kwargs)  # type: ignore[arg-type]
    slow = MessageReceived(**kwargs)  # type: ignore[arg-type]
    every = {f.name: f.default for f in dataclasses.fields(MessageReceived)} | kwargs
    positional = positional_constructor(MessageReceived)(*every.values())
    for made in (fast, positional):
        assert type(made) is MessageReceived
        assert made == slow and repr(made) == repr(slow)
        assert pickle.loads(pickle.dumps(made)) == slow
        assert copy.copy(made) == slow
        assert dataclasses.replace(made, body="x") == dataclasses.replace(slow, body="x")


def test_result_is_frozen() -> None:
    stanza = fast_constructor(OutboundStanza)(xml="<x/>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stanza.xml = "<y/>"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del stanza.xml
    assert stanza == OutboundStanza(xml="<x/>")
    assert hash(stanza) == hash(OutboundStanza(xml="<x/>"))
    values = {f.name: f.default for f in dataclasses.fields(OutboundStanza)} | {"xml": "<x/>"}
    positional = positional_constructor(OutboundStanza)(*values.values())
    assert positional == stanza and type(positional) is OutboundStanza
    with pytest.raises(dataclasses.FrozenInstanceError):
        positional.xml = "<y/>"  # type: ignore[misc]


def test_positional_constructor_takes_every_field_in_order() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Pair:
        first: int
        second: str = "s"

    new_pair = positional_constructor(Pair)
    assert new_pair(1, "x") == Pair(first=1, second="x")
    with pytest.raises(TypeError):
        new_pair(1)  # no defaults: every field is given
    with pytest.raises(TypeError):
        new_pair(1, "x", 3)
    with pytest.raises(TypeError):
        new_pair(first=1, second="x")  # positional only
    with pytest.raises(TypeError):
        positional_constructor(_Sample)  # an init=False field it could not fill


def test_field_storer_fills_an_object_under_construction() -> None:
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True, init=False)
    class Derived:
        value: int
        doubled: int = dataclasses.field(init=False, default=0)

        def __init__(self, *, value: int) -> None:
            _store(self, value, value * 2)

    _store = field_storer(Derived)
    made = Derived(value=4)
    assert (made.value, made.doubled) == (4, 8) and type(made) is Derived
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.value = 5  # type: ignore[misc]
    assert made == Derived(value=4) and copy.copy(made) == made
    with pytest.raises(TypeError):
        _store(made, 1)  # every field, init=False ones included


def test_defaults_factories_and_init_false_fields() -> None:
    one, two = new_sample(a=1), new_sample(a=1)
    assert one == _Sample(a=1) and one.b == "b" and one.d == "fixed"
    assert one.c == [] and one.c is not two.c  # a fresh list per object, as __init__ does
    given_list = [3]
    assert new_sample(a=2, b="x", c=given_list).c is given_list
    assert fast_constructor(HandlerResult)() == HandlerResult()


def test_signature_errors_are_the_classes() -> None:
    with pytest.raises(TypeError):
        new_sample(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        new_sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        new_sample(a=1, d="no")  # type: ignore[call-arg]


def test_refuses_classes_it_cannot_build_faithfully() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("negative")

    for cls in (Mutable, NoSlots, Checked, int):
        with pytest.raises(TypeError):
            fast_constructor(cls)
        with pytest.raises(TypeError):
            positional_constructor(cls)
    for cls in (Mutable, NoSlots, int):
        with pytest.raises(TypeError):
            field_storer(cls)


def test_send_message_init_matches_its_dataclass_fields() -> None:
    """SendMessage's hand-written __init__ takes exactly the dataclass's init fields, with
    the same defaults, and stores each where the dataclass machinery expects it."""
    import inspect

    from cubeproto.chat import SendMessage

    declared = {f.name: f.default for f in dataclasses.fields(SendMessage) if f.init}
    signature = inspect.signature(SendMessage.__init__).parameters
    accepted = {
        name: p.default for name, p in signature.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert accepted == declared and set(signature) == {"self", *declared}

    values = {
        "body": "b",
        "to_dialog": "d1",
        "message_id": "m",
        "dialog_id": "d2",
        "extension": {"k": "v"},
        "save_to_history": False,
        "silent": True,
        "markable": True,
        "date_sent": 7,
    }
    command = SendMessage(**values)  # type: ignore[arg-type]
    assert {name: getattr(command, name) for name in values} == values
    assert command.to_user is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.body = "x"  # type: ignore[misc]
    assert command == SendMessage(**values)  # type: ignore[arg-type]
    assert hash(SendMessage(to_user=5)) == hash(SendMessage(to_user=5))
    assert pickle.loads(pickle.dumps(command)) == command
    assert copy.copy(command) == command
    replaced = dataclasses.replace(command, body="<&>")
    assert replaced.body == "<&>" and replaced != command
    assert "<body>&lt;&amp;&gt;</body>" in replaced._payload  # rebuilt, not copied
    assert repr(command).startswith("SendMessage(body='b', to_user=None")
