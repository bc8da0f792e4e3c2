"""The SDK's chat verbs (``send_message``, ``join_dialog``, ``update_privacy_list`` ...),
written once for every adapter.

A verb is a *plan*: a generator that yields the steps it needs performed and returns the
verb's result, or, for a verb of one step, :class:`Once` (the step and what makes the
result of its answer: no generator on the outbound hot path).  There are two kinds of
step: :class:`Send` queues a command (the answer sent back into the plan is the
command's stanza id) and :class:`Call` sends a request and waits for its outcome (the
answer is the event the reply became; a failed request raises in the adapter and ends
the plan).  The plan builds the commands, checks and
interprets the answers, and merges privacy lists; it performs no I/O and reads no clock.

:class:`ChatVerbs` declares every verb once, through the :class:`verb` descriptor.  An
adapter derives from :class:`AsyncVerbs` or :class:`BlockingVerbs` and implements
``_perform(plan)``, the only part that differs: how it waits.  The descriptor hands
each adapter a method of the right kind, so the type checker sees
``await chat.send_message(to_user=2, body="hi") -> str`` on the async client and
``chat.send_message(to_user=2, body="hi") -> str`` on the blocking one, with every
parameter spelled out: a misspelt keyword is a type error, and a ``TypeError`` at run
time.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeAlias, TypeVar, cast, overload

from ..commands import DEFAULT_PING_TIMEOUT, Command, Ping, SendIq
from ..errors import LocalProtocolError
from ..events import Event, IqResultReceived, PongReceived
from ..reconnect import CallSettled, error_for
from .commands import (
    DeleteMessage,
    EditMessage,
    GetLastActivity,
    GetOnlineUsers,
    JoinDialog,
    LeaveDialog,
    SendChatState,
    SendMarker,
    SendMessage,
    SendSystemMessage,
    SetClientState,
    SubscribeLastActivity,
)
from .events import (
    ChatState,
    DialogJoined,
    LastActivity,
    MarkerKind,
    OnlineUsers,
    PrivacyItem,
    PrivacyListNames,
    PrivacyListReceived,
)
from .extension import ExtensionValue
from .privacy import (
    DeletePrivacyList,
    GetPrivacyList,
    GetPrivacyListNames,
    SetDefaultPrivacyList,
    SetPrivacyList,
    privacy_update,
)

__all__ = [
    "AsyncVerbs",
    "BlockingVerbs",
    "Call",
    "ChatVerbs",
    "Once",
    "Plan",
    "PlanRun",
    "Send",
    "Step",
    "Steps",
    "verb",
]

P = ParamSpec("P")
T = TypeVar("T")
E = TypeVar("E", bound=Event)


@dataclass(slots=True)
class Send:
    """Queue ``command``; the plan receives its stanza id (``None`` for a nonza)."""

    command: Command


@dataclass(slots=True)
class Call:
    """Send the request ``command`` and wait for its outcome; the plan receives the event
    the answer became (``None`` when nothing answers, e.g. a CSI nonza).  A failed
    request (error answer, timeout, no connection) raises in the adapter instead."""

    command: Command


Step: TypeAlias = Send | Call


@dataclass(slots=True)
class Once(Generic[T]):
    """A plan of one step: ``then`` makes the verb's result of the step's answer."""

    step: Step
    then: Callable[[Any], T]


#: A verb of several steps in progress: yields steps, is sent their answers, returns the
#: verb's result.
Steps: TypeAlias = Generator[Step, Any, T]
#: A verb: its steps, or one step (:class:`Once`).
Plan: TypeAlias = Steps[T] | Once[T]


class PlanRun(Generic[T]):
    """Steps one plan for an adapter: :attr:`step` is what to perform next (``None``
    once the plan is done, and then :attr:`result` is its value); :meth:`answer` hands
    the step's answer back and moves on."""

    __slots__ = ("_once", "_plan", "result", "step")

    def __init__(self, plan: Plan[T]) -> None:
        self.result: T = cast(T, None)
        self.step: Step | None
        if isinstance(plan, Once):
            self._once: Once[T] | None = plan
            self.step = plan.step
        else:
            self._once = None
            self._plan = plan
            self.answer(None)

    def answer(self, value: object) -> None:
        """The outcome of :attr:`step` (``None`` to start)."""
        if self._once is not None:
            self.step = None
            self.result = self._once.then(value)
            return
        try:
            self.step = self._plan.send(value)
        except StopIteration as stop:
            self.step = None
            self.result = stop.value


def expect(event: object, kind: type[E]) -> E:
    """``event`` as the answer type ``kind`` a request resolves to; anything else means
    the connection and the command disagree, a bug, not a peer's fault."""
    if not isinstance(event, kind):
        raise LocalProtocolError(f"expected {kind.__name__} as the answer, got {event!r}")
    return event


def _stanza_id(stanza_id: object) -> str:
    if not isinstance(stanza_id, str):
        raise LocalProtocolError(f"a stanza command was sent without an id: {stanza_id!r}")
    return stanza_id


def _nothing(answer: object) -> None:
    return None


# ---------------------------------------------------------------------- the plans


def send_message(
    *,
    to_user: int | None = None,
    to_dialog: str | None = None,
    body: str | None = None,
    extension: Mapping[str, ExtensionValue] | None = None,
    message_id: str | None = None,
    dialog_id: str | None = None,
    save_to_history: bool = True,
    silent: bool = False,
    markable: bool = False,
    date_sent: int | None = None,
) -> Plan[str]:
    """Send a 1-1 (``to_user``) or group (``to_dialog``) message; returns its id.  The
    other fields are :class:`~cubeproto.chat.SendMessage`'s."""
    command = SendMessage(
        to_user=to_user,
        to_dialog=to_dialog,
        body=body,
        extension=extension,
        message_id=message_id,
        dialog_id=dialog_id,
        save_to_history=save_to_history,
        silent=silent,
        markable=markable,
        date_sent=date_sent,
    )
    return Once(Send(command), _stanza_id)


def send_system_message(
    to_user: int,
    *,
    body: str | None = None,
    extension: Mapping[str, ExtensionValue] | None = None,
) -> Plan[str]:
    """Send a system message (``type="headline"``); returns its id."""
    command = SendSystemMessage(to_user=to_user, body=body, extension=extension or {})
    return Once(Send(command), _stanza_id)


def send_typing(*, to_user: int | None = None, to_dialog: str | None = None) -> Plan[None]:
    """ "is typing" (XEP-0085 composing)."""
    command = SendChatState(state=ChatState.COMPOSING, to_user=to_user, to_dialog=to_dialog)
    return Once(Send(command), _nothing)


def send_stop_typing(*, to_user: int | None = None, to_dialog: str | None = None) -> Plan[None]:
    """ "stopped typing" (XEP-0085 paused)."""
    command = SendChatState(state=ChatState.PAUSED, to_user=to_user, to_dialog=to_dialog)
    return Once(Send(command), _nothing)


def send_delivered(message_id: str, *, to_user: int, dialog_id: str | None = None) -> Plan[None]:
    """Tell the sender ``message_id`` was delivered."""
    kind = MarkerKind.RECEIVED
    command = SendMarker(kind=kind, message_id=message_id, to_user=to_user, dialog_id=dialog_id)
    return Once(Send(command), _nothing)


def send_read(message_id: str, *, to_user: int, dialog_id: str | None = None) -> Plan[None]:
    """Tell the sender ``message_id`` was read."""
    kind = MarkerKind.DISPLAYED
    command = SendMarker(kind=kind, message_id=message_id, to_user=to_user, dialog_id=dialog_id)
    return Once(Send(command), _nothing)


def edit_message(
    message_id: str,
    body: str,
    *,
    to_user: int | None = None,
    to_dialog: str | None = None,
    last: bool = False,
    dialog_id: str | None = None,
    extension: Mapping[str, ExtensionValue] | None = None,
    edit_id: str | None = None,
) -> Plan[str]:
    """Correct a message for everyone (``to_user`` or ``to_dialog``; ``last``: it is the
    dialog's newest); returns the id of the correction."""
    command = EditMessage(
        message_id=message_id,
        body=body,
        to_user=to_user,
        to_dialog=to_dialog,
        last=last,
        dialog_id=dialog_id,
        extension=extension,
        edit_id=edit_id,
    )
    return Once(Send(command), _stanza_id)


def delete_message(
    message_id: str,
    *,
    to_user: int | None = None,
    to_dialog: str | None = None,
    dialog_id: str | None = None,
    delete_id: str | None = None,
) -> Plan[str]:
    """Delete a message for everyone (``to_user`` or ``to_dialog``); returns the id of
    the removal."""
    command = DeleteMessage(
        message_id=message_id,
        to_user=to_user,
        to_dialog=to_dialog,
        dialog_id=dialog_id,
        delete_id=delete_id,
    )
    return Once(Send(command), _stanza_id)


def join_dialog(dialog_id: str) -> Steps[DialogJoined]:
    """Join a group dialog's room; re-joined automatically after a fresh session."""
    return expect((yield Call(JoinDialog(dialog_id=dialog_id))), DialogJoined)


def leave_dialog(dialog_id: str) -> Steps[None]:
    """Leave a group dialog's room."""
    yield Call(LeaveDialog(dialog_id=dialog_id))


def online_users(dialog_id: str) -> Steps[tuple[int, ...]]:
    """User ids of the room's occupants."""
    return expect((yield Call(GetOnlineUsers(dialog_id=dialog_id))), OnlineUsers).user_ids


def ping(*, timeout: float = DEFAULT_PING_TIMEOUT, to: str | None = None) -> Steps[float]:
    """XEP-0199 ping; returns the round trip in seconds (raises ``IqTimeout`` when
    nothing answers, ``IqError`` for an error answer)."""
    pong = expect((yield Call(Ping(to=to, timeout=timeout))), PongReceived)
    if pong.error is not None:
        raise error_for(CallSettled(pong.ping_id, pong, False))
    return pong.round_trip


def last_activity(user_id: int) -> Steps[int]:
    """Seconds since the user was last active (0: online now)."""
    return expect((yield Call(GetLastActivity(user_id=user_id))), LastActivity).seconds


def subscribe_last_activity(user_id: int, *, enable: bool = True) -> Steps[None]:
    """Receive ``LastActivity`` pushes for the user (``enable=False``: stop)."""
    yield Call(SubscribeLastActivity(user_id=user_id, enable=enable))


def mark_active() -> Steps[None]:
    """markActive (XEP-0352 CSI or the SDK's IQ, see ``SetClientState``)."""
    yield Call(SetClientState(active=True))


def mark_inactive() -> Steps[None]:
    """markInactive (as :func:`mark_active`)."""
    yield Call(SetClientState(active=False))


def create_privacy_list(name: str, items: Iterable[PrivacyItem]) -> Steps[None]:
    """Create (or replace) a privacy list."""
    yield Call(SetPrivacyList(name=name, items=tuple(items)))


def get_privacy_list(name: str) -> Steps[tuple[PrivacyItem, ...]]:
    """The items of a privacy list."""
    return expect((yield Call(GetPrivacyList(name=name))), PrivacyListReceived).items


def privacy_list_names() -> Steps[PrivacyListNames]:
    """The names of the lists, and the default and active ones."""
    return expect((yield Call(GetPrivacyListNames())), PrivacyListNames)


def update_privacy_list(name: str, changes: Iterable[PrivacyItem]) -> Steps[None]:
    """The SDK's update: get the list, merge the changes, set it (or remove it when
    nothing is left, as the SDK does: :func:`~cubeproto.chat.privacy_update`)."""
    current = yield from get_privacy_list(name)
    yield Call(privacy_update(name, current, changes))


def set_default_privacy_list(name: str | None) -> Steps[None]:
    """Make a list the default (``None``: no default)."""
    yield Call(SetDefaultPrivacyList(name=name))


def delete_privacy_list(name: str) -> Steps[None]:
    """Delete a privacy list."""
    yield Call(DeletePrivacyList(name=name))


def send_iq(type: str, payload: str, *, to: str | None = None) -> Steps[bytes | None]:
    """Any IQ request (escape hatch); returns the answer's payload bytes."""
    return expect((yield Call(SendIq(type=type, payload=payload, to=to))), IqResultReceived).payload


# ---------------------------------------------------------------------- the adapters' side


class verb(Generic[P, T]):
    """A verb as a method of a client: on an :class:`AsyncVerbs` client it is a
    coroutine method, on a :class:`BlockingVerbs` client a blocking one; both run
    ``plan`` through the client's ``_perform``.  The bound method is made once per
    client (kept in the instance's ``__dict__``) and has the plan's signature and
    docstring, so ``help()`` and ``inspect.signature`` show the real parameters."""

    def __init__(self, plan: Callable[P, Plan[T]]) -> None:
        self.plan = plan
        self.name = plan.__name__
        self.__doc__ = plan.__doc__

    def __set_name__(self, owner: type[object], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type[object]) -> verb[P, T]: ...

    @overload
    def __get__(
        self, client: AsyncVerbs, owner: type[object]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, client: BlockingVerbs, owner: type[object]) -> Callable[P, T]: ...

    def __get__(self, client: ChatVerbs | None, owner: type[object]) -> Any:
        if client is None:
            return self
        plan = self.plan
        perform = client._perform

        @functools.wraps(plan)
        def bound(*args: P.args, **kwargs: P.kwargs) -> Any:
            return perform(plan(*args, **kwargs))

        client.__dict__[self.name] = bound
        return bound


class ChatVerbs:
    """Every verb of the official SDK's chat API, declared once.  Derive an adapter from
    :class:`AsyncVerbs` or :class:`BlockingVerbs`, not from this class."""

    def _perform(self, plan: Plan[Any]) -> Any:
        """Perform ``plan``'s steps until it returns; the adapter says how it waits."""
        raise NotImplementedError

    send_message = verb(send_message)
    send_system_message = verb(send_system_message)
    send_typing = verb(send_typing)
    send_stop_typing = verb(send_stop_typing)
    send_delivered = verb(send_delivered)
    send_read = verb(send_read)
    edit_message = verb(edit_message)
    delete_message = verb(delete_message)
    join_dialog = verb(join_dialog)
    leave_dialog = verb(leave_dialog)
    online_users = verb(online_users)
    ping = verb(ping)
    last_activity = verb(last_activity)
    subscribe_last_activity = verb(subscribe_last_activity)
    mark_active = verb(mark_active)
    mark_inactive = verb(mark_inactive)
    create_privacy_list = verb(create_privacy_list)
    get_privacy_list = verb(get_privacy_list)
    privacy_list_names = verb(privacy_list_names)
    update_privacy_list = verb(update_privacy_list)
    set_default_privacy_list = verb(set_default_privacy_list)
    delete_privacy_list = verb(delete_privacy_list)
    send_iq = verb(send_iq)


class AsyncVerbs(ChatVerbs):
    """The verbs as coroutine methods: ``_perform`` returns an awaitable of the result."""

    def _perform(self, plan: Plan[T]) -> Awaitable[T]:
        raise NotImplementedError


class BlockingVerbs(ChatVerbs):
    """The verbs as blocking methods: ``_perform`` returns the result."""

    def _perform(self, plan: Plan[T]) -> T:
        raise NotImplementedError
