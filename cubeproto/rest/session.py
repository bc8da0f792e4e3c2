"""The session object: owns the REST token, renews it on expiry, and is the chat password.

REST and chat are one lifecycle: :class:`RestSession` creates the ConnectyCube session
(``POST /session.json``), stamps its token on every request, and hands the same token to the
XMPP login (:meth:`RestSession.chat_password`; a session token is accepted as the chat
password for every kind of user, by ConnectyCube's chat guide and REST documentation).

It is sans-IO.  A call is driven through an :class:`Exchange`, a small state machine that
says what to do next -- :class:`Send` a request, :class:`Wait` then send, or :class:`Done`
with the typed result -- so one loop serves every adapter.  The adapter owns the clock and
the sleeping; ``wall_clock`` below stands for whatever clock it injects::

    exchange = session.exchange(request)
    step = exchange.start()
    while not isinstance(step, Done):
        if isinstance(step, Wait):
            sleep(step.seconds)
        status, headers, body = http_send(step.request)
        step = exchange.receive(status, headers, body, now=wall_clock())

Renewal: a 401 "Required session does not exist" on a call (not on a ``/session`` URL)
creates a new session and replays the call, **exactly once**; a second expiry is raised as
:class:`~cubeproto.rest.errors.SessionExpired`.  If another exchange renewed the token in the
meantime, the call is simply replayed with the new token.  Retries on 429/5xx follow the
:class:`~cubeproto.rest.retry.RetryPolicy`.  Any final failure is raised from ``receive``
as the typed :class:`~cubeproto.rest.errors.RestError`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..errors import LocalProtocolError
from .errors import SessionExpired, api_error_from
from .models import Session
from .requests import UserAuth, create_session
from .responses import Headers
from .restrequest import DEFAULT_BASE_URL, RestRequest, check_base_url
from .retry import RetryPolicy

__all__ = ["Credentials", "Done", "Exchange", "RestSession", "Send", "Step", "Wait"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """What creating a session needs: the application's id and auth key, and (optionally)
    how the user signs in.  Without ``user`` the session is application-only (read-only)."""

    application_id: int | str
    auth_key: str
    user: UserAuth | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send ``request`` now and feed its response to :meth:`Exchange.receive`."""

    request: RestRequest[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Wait:
    """Wait ``seconds``, then send ``request`` and feed its response back."""

    seconds: float
    request: RestRequest[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Done(Generic[T]):
    """The call succeeded; ``value`` is its parsed result."""

    value: T


Step = Send | Wait | Done[T]


class _Phase(enum.Enum):
    IDLE = "idle"
    CREATING = "creating session"
    CALLING = "calling"
    DONE = "done"


class RestSession:
    """Owner of one ConnectyCube REST session token.

    ``random`` is the jitter source for the retry policy (a callable returning floats in
    [0, 1); adapters pass ``random.random``).  ``retry=None`` disables retries.
    """

    def __init__(
        self,
        *,
        credentials: Credentials,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        if retry is not None and random is None:
            raise LocalProtocolError("a retry policy needs a random source for its jitter")
        self.credentials = credentials
        self.base_url = check_base_url(base_url)
        self.retry = retry
        self.random = random
        self._session: Session | None = None
        #: How many sessions this object has created (1 after the first login).
        self.sessions_created = 0

    @property
    def token(self) -> str | None:
        """The current CB-Token, or None before the first session / after destroy."""
        return self._session.token if self._session is not None else None

    @property
    def session(self) -> Session | None:
        """The current session record."""
        return self._session

    @property
    def user_id(self) -> int | None:
        """The signed-in user's id (None before a session, 0 for an application session)."""
        return self._session.user_id if self._session is not None else None

    def chat_password(self) -> str:
        """The XMPP password for this user: the current session token.

        Call it right before each chat login, so a renewed token is what the chat uses.
        """
        if self._session is None:
            raise LocalProtocolError(
                "no REST session yet: run a call (or create_session_request) first"
            )
        return self._session.token

    def create_session_request(self) -> RestRequest[Session]:
        """``POST /session.json`` for these credentials (the old token is not sent)."""
        c = self.credentials
        return create_session(
            application_id=c.application_id,
            auth_key=c.auth_key,
            user=c.user,
            base_url=self.base_url,
        )

    def adopt(self, session: Session) -> None:
        """Use ``session`` (e.g. created elsewhere, or restored from storage)."""
        if not isinstance(session, Session):
            raise LocalProtocolError("adopt takes a Session")
        self._session = session

    def forget(self) -> None:
        """Drop the token (the next call creates a new session)."""
        self._session = None

    def exchange(self, request: RestRequest[T]) -> Exchange[T]:
        """Start driving ``request`` (its token and base URL are replaced by this session's)."""
        return Exchange(self, request)


def _is_session_url(request: RestRequest[Any]) -> bool:
    # The SDK never treats expiry on URLs containing "session" as renewable.
    return "session" in request.target.split("?", 1)[0]


class Exchange(Generic[T]):
    """One call driven to completion: session creation, renewal and retries included.

    Call :meth:`start` once, then :meth:`receive` with each response until it returns
    :class:`Done` (or raises the final typed error).  Not reusable.
    """

    def __init__(self, owner: RestSession, request: RestRequest[T]) -> None:
        self._owner = owner
        self._request = request.with_base_url(owner.base_url)
        self._phase = _Phase.IDLE
        self._renewed = False
        self._attempt = 0
        self._sent: RestRequest[Any] | None = None

    @property
    def renewed(self) -> bool:
        """Whether this exchange has used its one renewal."""
        return self._renewed

    def _send(self, request: RestRequest[Any], phase: _Phase) -> Send:
        if phase is not self._phase:
            self._attempt = 0
        self._phase = phase
        self._attempt += 1
        self._sent = request
        return Send(request=request)

    def _call(self) -> Send:
        return self._send(self._request.with_token(self._owner.token), _Phase.CALLING)

    def _create(self) -> Send:
        return self._send(self._owner.create_session_request(), _Phase.CREATING)

    def start(self) -> Send:
        """The first request to send: the call itself, or the session creation it needs."""
        if self._phase is not _Phase.IDLE:
            raise LocalProtocolError("exchange already started")
        if self._owner.token is None and not _is_session_url(self._request):
            return self._create()
        return self._call()

    def receive(
        self, status: int, headers: Headers, body: bytes, *, now: float
    ) -> Send | Wait | Done[T]:
        """Feed the response to the last request sent; get the next step.

        ``now`` is the wall-clock time (unix seconds), used for HTTP-date ``Retry-After``.
        Raises the typed :class:`~cubeproto.rest.errors.RestError` when the call failed for
        good.
        """
        sent = self._sent
        if sent is None or self._phase in (_Phase.IDLE, _Phase.DONE):
            raise LocalProtocolError(
                f"receive() without a request in flight (phase {self._phase.value})"
            )
        if not 200 <= status <= 299:
            delay = self._retry_delay(status, headers, sent, now)
            if delay is not None:
                self._attempt += 1
                return Wait(seconds=delay, request=sent)
        if self._phase is _Phase.CREATING:
            try:
                session = self._owner.create_session_request().parse(status, headers, body)
            except BaseException:
                self._phase = _Phase.DONE
                raise
            self._owner.adopt(session)
            self._owner.sessions_created += 1
            return self._call()
        if not 200 <= status <= 299:
            error = api_error_from(status, body)
            if (
                isinstance(error, SessionExpired)
                and not self._renewed
                and not _is_session_url(sent)
            ):
                self._renewed = True
                if self._owner.token is not None and sent.header("CB-Token") != self._owner.token:
                    return self._call()  # someone else renewed already
                self._owner.forget()
                return self._create()
            self._phase = _Phase.DONE
            raise error
        self._phase = _Phase.DONE
        value = self._request.parse(status, headers, body)
        if self._request.method == "DELETE" and self._request.target == "/session.json":
            self._owner.forget()
        return Done(value=value)

    def _retry_delay(
        self, status: int, headers: Headers, sent: RestRequest[Any], now: float
    ) -> float | None:
        policy = self._owner.retry
        random = self._owner.random
        if policy is None or random is None:
            return None
        return policy.decide(
            status=status,
            headers=headers,
            idempotent=sent.idempotent,
            attempt=self._attempt,
            now=now,
            random=random,
        )
