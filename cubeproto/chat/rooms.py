"""The group dialogs a high-level client is in, kept across reconnections: the chat
layer's extension of the :class:`~cubeproto.reconnect.Supervisor`.

Joining and leaving a room are presences, not IQs, so their outcome is not an IQ answer:
a join is settled by our own occupant presence (``DialogJoined``) or an error presence
(``DialogJoinFailed``), a leave by our unavailable presence (``DialogLeft``).  The call
ids are ``join:<dialog>`` and ``leave:<dialog>`` (lower-cased: the server may change the
case of a room's name).  When a fresh session replaces a lost one the server has
forgotten every room, so :meth:`DialogRooms.restore` re-joins them, and the stanza
handler carried over from the old session is told so (:meth:`ChatSession.fresh_session`).
A process that resumes a checkpoint's session takes its rooms over
(:meth:`DialogRooms.adopt`).  A room that forgot us without a word (its node died:
``DialogLost``) stays in the set while the session re-joins it (``rejoining``), and
leaves it otherwise; a refused join (``DialogJoinFailed``, an automatic re-join's too)
leaves it as well: the application was told, and decides.

Registered with :func:`~cubeproto.reconnect.register_extension` when ``cubeproto.chat``
is imported, so the core never imports the chat layer.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..commands import Command
from ..events import Event
from ..reconnect import register_extension
from .commands import JoinDialog, LeaveDialog
from .events import DialogJoined, DialogJoinFailed, DialogLeft, DialogLost
from .session import ChatSession

__all__ = ["DialogRooms"]


def _key(prefix: str, dialog_id: str) -> str:
    return f"{prefix}:{dialog_id.lower()}"


class DialogRooms:
    """The rooms one client joined (and did not leave), by lower-cased dialog id."""

    command_types: tuple[type[Command], ...] = (JoinDialog, LeaveDialog)
    event_types: tuple[type[Event], ...] = (
        DialogJoined,
        DialogJoinFailed,
        DialogLeft,
        DialogLost,
    )

    def __init__(self) -> None:
        self._joined: dict[str, str] = {}

    @property
    def joined_dialogs(self) -> frozenset[str]:
        """The dialog ids, as the server last confirmed them."""
        return frozenset(self._joined.values())

    def track(self, command: Command) -> str:
        """A join or leave was sent; a leave forgets the room at once (it is not
        re-joined, whatever the answer)."""
        if isinstance(command, JoinDialog):
            return _key("join", command.dialog_id)
        assert isinstance(command, LeaveDialog)
        self._joined.pop(command.dialog_id.lower(), None)
        return _key("leave", command.dialog_id)

    def settle(self, event: Event) -> tuple[str, bool]:
        """Our join or leave presence arrived (also for a re-join nobody waits for)."""
        if isinstance(event, DialogJoined):
            self._joined[event.dialog_id.lower()] = event.dialog_id
            return _key("join", event.dialog_id), True
        if isinstance(event, DialogJoinFailed):
            # The server says we are not in the room (an automatic re-join refused, or
            # the application's join of a room we were in): not re-joined later.
            self._joined.pop(event.dialog_id.lower(), None)
            return _key("join", event.dialog_id), False
        if isinstance(event, DialogLost):
            if not event.rejoining:
                self._joined.pop(event.dialog_id.lower(), None)
            return _key("lost", event.dialog_id), False
        assert isinstance(event, DialogLeft)
        self._joined.pop(event.dialog_id.lower(), None)
        return _key("leave", event.dialog_id), True

    def fresh_session(self, handler: object) -> None:
        """The new session is in no room: the handler must report joins again."""
        if isinstance(handler, ChatSession):
            handler.fresh_session()

    def adopt(self, handler: object) -> None:
        """A checkpoint's session is resumed by this process: its rooms (joined, and lost
        ones being joined again) are this client's, re-joined after a fresh session."""
        if isinstance(handler, ChatSession):
            for dialog_id in handler.joined_dialogs | handler.rejoining_dialogs:
                self._joined[dialog_id.lower()] = dialog_id

    def restore(self) -> Iterable[Command]:
        """Re-join every room after a fresh session."""
        return [JoinDialog(dialog_id=dialog_id) for dialog_id in self._joined.values()]


register_extension(DialogRooms)
