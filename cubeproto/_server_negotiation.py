"""Server stream negotiation: the client's header, our features, STARTTLS, SASL (PLAIN and
SCRAM through scramp's server role, ``-PLUS`` with channel binding) and resource binding.

Every state change goes through :func:`cubeproto._server_state.server_transition`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lxml import etree
from scramp import ScramException, ScramMechanism

from ._sasl import SaslError, b64decode_sasl, b64encode_sasl
from ._server_base import (
    _IQ,
    _NEGOTIATION_TIMER,
    ClientAuthenticated,
    ClientAuthFailed,
    ClientBound,
    ClientClosed,
    ServerParts,
    ServerTransport,
    StreamStarted,
    TlsRequested,
    _Sasl,
)
from ._server_credentials import (
    _SCRAM_HASHES,
    UserAuth,
    check_plain_password,
)
from ._server_state import ServerInput, ServerState, server_transition
from ._stream import (
    NS_BIND,
    NS_SASL,
    NS_SESSION,
    NS_SM,
    NS_TLS,
)
from ._wire import split_tag
from ._xmlstream import (
    NS_CLIENT,
    NS_FRAMING,
    NS_STREAM,
    StreamHeader,
    escape_attr,
    escape_text,
)
from .errors import (
    StreamErrorCondition,
)

__all__ = ["ServerNegotiation"]


class ServerNegotiation(ServerParts):
    """The negotiation part of :class:`~cubeproto._server_connection.ServerConnection`."""

    if not TYPE_CHECKING:  # a mixin adds no slots
        __slots__ = ()

    def _on_header(self, header: StreamHeader) -> None:
        if self._state is not ServerState.AWAITING_HEADER:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected stream header")
            return
        attrs = header.attributes
        to = attrs.get("to")
        # Answer with our header first, so that any error below can be sent on a stream.
        self._out.append(self._framing.open_reply(self._new_stream_id(), self._config.domain))
        self._state = server_transition(self._state, ServerInput.HEADER)
        if not attrs.get("version", "").startswith("1."):
            self._fail(StreamErrorCondition.UNSUPPORTED_VERSION, "version 1.0 is required")
            return
        if to is not None and to != self._config.domain:
            self._fail(StreamErrorCondition.HOST_UNKNOWN, f"this server is {self._config.domain}")
            return
        if header.default_namespace not in (NS_CLIENT, NS_FRAMING):
            self._fail(StreamErrorCondition.INVALID_NAMESPACE, "the stream must be jabber:client")
            return
        self._headers += 1
        self._nonza(self._features())
        self._events.append(StreamStarted(to=to, restart=self._headers > 1))

    def _offered_mechanisms(self) -> list[str]:
        config = self._config
        out = []
        for mechanism in config.mechanisms:
            if mechanism.endswith("-PLUS") and self._channel_binding is None:
                continue
            if mechanism == "PLAIN" and not self._encrypted and not config.allow_plain_unencrypted:
                continue
            out.append(mechanism)
        return out

    def _tls_offered(self) -> bool:
        config = self._config
        return config.transport is ServerTransport.TCP and config.starttls and not self._encrypted

    def _features(self) -> str:
        parts: list[str] = []
        if self._username is None:
            if self._tls_offered():
                required = "<required/>" if self._config.require_tls else ""
                parts.append(f'<starttls xmlns="{NS_TLS}">{required}</starttls>')
            if self._encrypted or not self._config.require_tls or not self._tls_offered():
                mechanisms = "".join(
                    f"<mechanism>{m}</mechanism>" for m in self._offered_mechanisms()
                )
                parts.append(f'<mechanisms xmlns="{NS_SASL}">{mechanisms}</mechanisms>')
        else:
            parts.append(f'<bind xmlns="{NS_BIND}"/>')
            parts.append(f'<session xmlns="{NS_SESSION}"><optional/></session>')
            if self._config.stream_management:
                parts.append(f'<sm xmlns="{NS_SM}"/>')
        return f'<stream:features xmlns:stream="{NS_STREAM}">{"".join(parts)}</stream:features>'

    def _on_starttls(self) -> None:
        if not self._tls_offered() or self._username is not None:
            self._nonza(f'<failure xmlns="{NS_TLS}"/>')
            self._out.append(self._framing.close_stream())
            self._finish(ClientClosed(clean=False, text="STARTTLS not available"))
            return
        self._nonza(f'<proceed xmlns="{NS_TLS}"/>')
        self._state = server_transition(self._state, ServerInput.STARTTLS)
        self._events.append(TlsRequested())

    def _on_auth(self, element: etree._Element) -> None:
        if self._username is not None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "already authenticated")
            return
        if self._tls_offered() and self._config.require_tls:
            self._fail(StreamErrorCondition.POLICY_VIOLATION, "STARTTLS is required first")
            return
        mechanism = element.get("mechanism") or ""
        if mechanism not in self._offered_mechanisms():
            self._sasl = _Sasl(mechanism)
            self._sasl_failed("invalid-mechanism", f"mechanism {mechanism[:40]!r} not offered")
            return
        sasl = self._sasl = _Sasl(mechanism)
        data = _b64decode(element.text)
        if data is None:
            self._sasl_failed("incorrect-encoding", "initial response is not base64")
            return
        if mechanism == "PLAIN":
            self._plain(sasl, data)
        else:
            self._scram_first(sasl, data)

    def _plain(self, sasl: _Sasl, data: bytes) -> None:
        parts = data.split(b"\0")
        if len(parts) != 3:
            self._sasl_failed("malformed-request", "PLAIN needs authzid NUL authcid NUL passwd")
            return
        try:
            authzid, authcid, password = (p.decode() for p in parts)
        except UnicodeDecodeError:
            self._sasl_failed("malformed-request", "PLAIN message is not UTF-8")
            return
        sasl.username = authcid
        domain = self._config.domain
        if authzid not in ("", authcid, f"{authcid}@{domain}"):
            self._sasl_failed("invalid-authzid", "authorization identity differs")
            return
        auth = self._lookup(authcid)
        if auth is None or not check_plain_password(auth, password):
            self._sasl_failed("not-authorized", "wrong user or password")
            return
        self._sasl_success(sasl, b"")

    def _lookup(self, username: str) -> UserAuth | None:
        if not username or len(username) > 1023:
            return None
        return self._config.authenticate(username)

    def _scram_first(self, sasl: _Sasl, data: bytes) -> None:
        mechanism = sasl.mechanism
        hash_name = _SCRAM_HASHES[mechanism.removesuffix("-PLUS")]

        def auth_fn(username: str) -> tuple[bytes, bytes, bytes, int]:
            auth = self._lookup(username)
            sasl.username = username
            candidates = auth.scram_keys(hash_name) if auth is not None else []
            if auth is None or not candidates:
                raise ScramException("unknown user")
            sasl.candidates = candidates
            sasl.salt, sasl.iterations = auth.salt, auth.iterations
            stored_key, server_key = candidates[0]
            return auth.salt, stored_key, server_key, auth.iterations

        try:
            client_first = data.decode()
            nonce = self._config.entropy(18).hex()
            server = self._scram_server(auth_fn, nonce)
            server.set_client_first(client_first)  # type: ignore[attr-defined]
            challenge: str = server.get_server_first()  # type: ignore[attr-defined]
        except (ScramException, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            self._sasl_failed("not-authorized", f"SCRAM client-first refused: {exc}")
            return
        sasl.scram = server
        sasl.client_first = client_first
        sasl.nonce = nonce
        self._state = server_transition(self._state, ServerInput.SASL_STEP)
        self._nonza(
            f'<challenge xmlns="{NS_SASL}">{b64encode_sasl(challenge.encode())}</challenge>'
        )

    def _scram_server(
        self, auth_fn: Callable[[str], tuple[bytes, bytes, bytes, int]], nonce: str
    ) -> object:
        mechanism = self._sasl.mechanism if self._sasl is not None else ""
        return ScramMechanism(mechanism).make_server(
            auth_fn,
            channel_binding=self._channel_binding if mechanism.endswith("-PLUS") else None,
            s_nonce=nonce,
        )

    def _on_sasl_response(self, element: etree._Element) -> None:
        sasl = self._sasl
        if sasl is None or sasl.scram is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL response")
            return
        data = _b64decode(element.text)
        if data is None:
            self._sasl_failed("incorrect-encoding", "response is not base64")
            return
        try:
            client_final = data.decode()
        except UnicodeDecodeError:
            self._sasl_failed("not-authorized", "SCRAM proof refused: not UTF-8")
            return
        # The proof is checked against every candidate secret (see UserAuth): each check
        # replays the exchange in a fresh scramp server with the same nonce, salt and
        # iteration count -- so the same server-first -- and that candidate's keys.
        final: str | None = None
        reason = "no candidate"
        for keys in sasl.candidates:

            def auth_fn(
                username: str, keys: tuple[bytes, bytes] = keys
            ) -> tuple[bytes, bytes, bytes, int]:
                return sasl.salt, keys[0], keys[1], sasl.iterations

            server = self._scram_server(auth_fn, sasl.nonce)
            try:
                server.set_client_first(sasl.client_first)  # type: ignore[attr-defined]
                server.get_server_first()  # type: ignore[attr-defined]
                server.set_client_final(client_final)  # type: ignore[attr-defined]
                answer: str = server.get_server_final()  # type: ignore[attr-defined]
            except (ScramException, ValueError, KeyError, TypeError) as exc:
                reason = str(exc)
                continue
            if final is None:
                final = answer
        if final is None:
            self._sasl_failed("not-authorized", f"SCRAM proof refused: {reason}")
            return
        self._sasl_success(sasl, final.encode())

    def _sasl_success(self, sasl: _Sasl, additional: bytes) -> None:
        assert sasl.username is not None
        self._username = sasl.username
        self._sasl = None
        data = b64encode_sasl(additional) if additional else ""
        self._nonza(f'<success xmlns="{NS_SASL}">{data}</success>')
        self._state = server_transition(self._state, ServerInput.SASL_DONE)
        self._framing.restart()
        self._events.append(ClientAuthenticated(username=sasl.username, mechanism=sasl.mechanism))

    def _sasl_failed(self, condition: str, reason: str) -> None:
        sasl = self._sasl
        self._sasl = None
        self._nonza(f'<failure xmlns="{NS_SASL}"><{condition}/></failure>')
        self._state = server_transition(self._state, ServerInput.SASL_FAILED)
        self._auth_failures += 1
        self._events.append(
            ClientAuthFailed(
                username=sasl.username if sasl else None,
                mechanism=sasl.mechanism if sasl else None,
                reason=reason,
            )
        )
        if self._auth_failures >= self._config.max_auth_attempts:
            self._fail(StreamErrorCondition.POLICY_VIOLATION, "too many failed logins")

    def _negotiation_iq(self, element: etree._Element, now: float) -> None:
        iq_id = element.get("id")
        child = next((c for c in element if isinstance(c.tag, str)), None)
        if (
            element.get("type") != "set"
            or iq_id is None
            or child is None
            or child.tag != f"{{{NS_BIND}}}bind"
        ):
            self._fail(StreamErrorCondition.NOT_AUTHORIZED, "only resource binding is allowed now")
            return
        assert self._username is not None
        wanted = ""
        for sub in child:
            if isinstance(sub.tag, str) and split_tag(sub.tag)[1] == "resource":
                wanted = (sub.text or "").strip()
        resource = wanted if _resource_ok(wanted) else self._new_resource()
        jid = f"{self._username}@{self._config.domain}/{resource}"
        self._jid = jid
        self._state = server_transition(self._state, ServerInput.BOUND)
        self._timers.cancel(_NEGOTIATION_TIMER)
        self._out.append(
            self._framing.frame_stanza(
                f'<iq type="result" id="{escape_attr(iq_id)}"><bind xmlns="{NS_BIND}">'
                f"<jid>{escape_text(jid)}</jid></bind></iq>",
                _IQ,
            )
        )
        self._events.append(ClientBound(jid=jid))
        self._arm_idle()

    def _new_resource(self) -> str:
        raw = int.from_bytes(self._config.entropy(6), "big")
        return f"{raw % 10**10:010d}-cubeproto"


def _resource_ok(value: str) -> bool:
    return 0 < len(value) <= 64 and all(ch.isalnum() or ch in "-_." for ch in value)


def _b64decode(text: str | None) -> bytes | None:
    """SASL element text decoded (``=`` is empty), or ``None`` if it is not base64."""
    try:
        return b64decode_sasl(text)
    except SaslError:
        return None
