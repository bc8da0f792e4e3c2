"""Client stream negotiation: features, STARTTLS, SASL, resource binding and session
set-up (RFC 6120 sections 4-7), up to READY or to a resumption (``_client_sm.py``).

Every state change goes through :func:`cubeproto._state.transition`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from ._client_base import (
    _BIND_JID,
    _IQ,
    _PRESENCE,
    _SASL_CONDITIONS,
    ClientParts,
    _PendingIq,
    _safe_chars,
)
from ._sasl import SaslClient, SaslError, b64decode_sasl, b64encode_sasl, choose_mechanism
from ._sm import StreamManagement
from ._state import (
    Input,
    StreamState,
    transition,
)
from ._stream import (
    NS_BIND,
    NS_CARBONS,
    NS_LIMITS,
    NS_SASL,
    NS_SM,
    NS_TLS,
)
from ._wire import parse_uint, split_tag
from ._xmlstream import (
    StreamHeader,
    escape_attr,
    escape_text,
)
from .config import Transport
from .errors import (
    SaslCondition,
    StreamErrorCondition,
)
from .events import (
    Authenticated,
    AuthenticationFailed,
    Bound,
    CloseReason,
    Connected,
    ConnectionClosed,
    StreamOpened,
    TlsUpgradeRequired,
)

__all__ = ["Negotiation"]


class Negotiation(ClientParts):
    """The negotiation part of :class:`~cubeproto._connection.ClientConnection`."""

    if not TYPE_CHECKING:  # the slots are ClientConnection's; a mixin adds none
        __slots__ = ()

    def _on_features(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.OPENING or not self._header_seen:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected <stream:features/>")
            return
        namespaces = set()
        starttls = False
        mechanisms: list[str] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, local = split_tag(child.tag)
            if namespace:
                namespaces.add(namespace)
            if namespace == NS_TLS and local == "starttls":
                starttls = True
            elif namespace == NS_LIMITS and local == "limits":
                self._advertised_limit(child)
            elif namespace == NS_SASL and local == "mechanisms":
                mechanisms = [
                    (m.text or "").strip()
                    for m in child
                    if isinstance(m.tag, str) and split_tag(m.tag)[1] == "mechanism"
                ]
        config = self._config
        if not self._authenticated:
            if not self._encrypted and starttls and config.transport is Transport.TCP:
                self._state = transition(self._state, Input.RECV_FEATURES_STARTTLS)
                self._send_nonza(f'<starttls xmlns="{NS_TLS}"/>')
                return
            if not self._encrypted and config.require_tls:
                self._give_up("the server does not offer TLS and require_tls is set")
                return
            if not mechanisms:
                self._give_up("the server offers no SASL mechanism")
                return
            try:
                mechanism = choose_mechanism(
                    mechanisms,
                    preference=config.mechanisms,
                    encrypted=self._encrypted,
                    channel_binding=self._channel_binding is not None,
                    allow_plain_unencrypted=config.allow_plain_unencrypted,
                )
                self._sasl = SaslClient(
                    mechanism,
                    username=config.username,
                    password=config.password,
                    nonce=self._ids.uuid4().replace("-", ""),
                    channel_binding=self._channel_binding,
                )
                initial = self._sasl.initial_response()
            except SaslError as exc:
                self._auth_failed(None, "", str(exc), send_close=True)
                return
            self._state = transition(self._state, Input.RECV_FEATURES_AUTH)
            self._send_nonza(
                f'<auth xmlns="{NS_SASL}" mechanism="{mechanism}">{b64encode_sasl(initial)}</auth>'
            )
            return
        self._features = frozenset(namespaces)
        if self._resume is not None and NS_SM in namespaces:
            self._state = transition(self._state, Input.RECV_FEATURES_RESUME)
            h = self._sm.inbound_h if self._sm is not None else 0
            self._send_nonza(
                f'<resume xmlns="{NS_SM}" h="{h}" previd="{escape_attr(self._resume.resume_id)}"/>'
            )
            return
        if NS_BIND not in namespaces:
            self._give_up("the server offers no resource binding after authentication")
            return
        if self._resume is not None:
            # Resumption impossible (no SM offered now): a fresh session, messages lost.
            self._resume_failed(None, now, h_known=False)
            return
        self._state = transition(self._state, Input.RECV_FEATURES_BIND)
        self._send_bind(now)

    def _advertised_limit(self, limits: etree._Element) -> None:
        """XEP-0478: the server's ``<max-bytes/>`` bounds what we may send."""
        node = limits.find(f"{{{NS_LIMITS}}}max-bytes")
        value = parse_uint(node.text.strip()) if node is not None and node.text else None
        if value is None or value < 64:
            return
        if self._max_out is None or value < self._max_out:
            self._max_out = value
            self._max_out_chars = _safe_chars(value)

    def _send_bind(self, now: float) -> None:
        iq_id = self._ids.short_id()
        resource = self._config.resource
        inner = f"<resource>{escape_text(resource)}</resource>" if resource else ""
        self._track_iq(iq_id, _PendingIq("bind", None, now, self._config.iq_timeout), now)
        self._send_uncounted(
            f'<iq type="set" id="{iq_id}"><bind xmlns="{NS_BIND}">{inner}</bind></iq>', _IQ
        )

    def _on_tls_proceed(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.STARTTLS_SENT:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected <proceed/>")
            return
        self._state = transition(self._state, Input.RECV_PROCEED)
        self._emit(TlsUpgradeRequired())

    def _on_tls_failure(self, element: etree._Element, now: float) -> None:
        # RFC 6120 5.4.2.2: the server closes the stream after <failure/>.
        self._give_up("the server refused STARTTLS")

    def _on_sasl_challenge(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING or self._sasl is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL challenge")
            return
        try:
            response = self._sasl.challenge(b64decode_sasl(element.text))
        except SaslError as exc:
            self._send_nonza(f'<abort xmlns="{NS_SASL}"/>')
            self._auth_failed(None, "", str(exc), send_close=True)
            return
        self._send_nonza(f'<response xmlns="{NS_SASL}">{b64encode_sasl(response)}</response>')

    def _on_sasl_success(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING or self._sasl is None:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL success")
            return
        try:
            self._sasl.success(b64decode_sasl(element.text))
        except SaslError as exc:
            # The server could not prove it knows the password: never continue.
            self._auth_failed(None, "", str(exc), send_close=True)
            return
        self._state = transition(self._state, Input.RECV_SASL_SUCCESS)
        self._authenticated = True
        self._emit(Authenticated(mechanism=self._sasl.mechanism))
        self._sasl = None
        self._open_stream()

    def _on_sasl_failure(self, element: etree._Element, now: float) -> None:
        if self._state is not StreamState.AUTHENTICATING:
            self._fail(StreamErrorCondition.UNSUPPORTED_STANZA_TYPE, "unexpected SASL failure")
            return
        name = ""
        text = None
        for child in element:
            if not isinstance(child.tag, str):
                continue
            local = split_tag(child.tag)[1]
            if local == "text":
                text = child.text or ""
            elif not name:
                name = local
        self._auth_failed(_SASL_CONDITIONS.get(name), name, text, send_close=True)

    def _auth_failed(
        self, condition: SaslCondition | None, name: str, text: str | None, *, send_close: bool
    ) -> None:
        self._emit(AuthenticationFailed(condition=condition, condition_name=name, text=text))
        if send_close and self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        self._finish(
            ConnectionClosed(reason=CloseReason.AUTH_FAILED, text=text or name or None),
            resumable=False,
        )

    def _give_up(self, why: str) -> None:
        if self._terminated:
            return
        if self._framing.ready:
            self._out.append(self._framing.close_stream())
            self._out.append(self._framing.shutdown())
        self._finish(
            ConnectionClosed(reason=CloseReason.NEGOTIATION_FAILED, text=why), resumable=False
        )

    def _on_bound(self, element: etree._Element, now: float) -> None:
        jid = None
        for bind in element:
            if isinstance(bind.tag, str) and split_tag(bind.tag)[0] == NS_BIND:
                jid_el = bind.find(_BIND_JID)
                jid = jid_el.text.strip() if jid_el is not None and jid_el.text else None
        if not jid or "@" not in jid or "/" not in jid:
            self._give_up("resource binding returned no full JID")
            return
        self._jid = jid
        self._state = transition(self._state, Input.RECV_BOUND)
        self._emit(Bound(jid=jid))
        self._session_setup(now)

    def _session_setup(self, now: float) -> None:
        """After bind, in the official SDK's order: SM enable, carbons, initial presence."""
        config = self._config
        wants_sm = config.stream_management and NS_SM in self._features
        if wants_sm:
            resume = ' resume="true"' if config.resume else ""
            self._send_nonza(f'<enable xmlns="{NS_SM}"{resume}/>')
            self._sm = StreamManagement()
        if config.enable_carbons:
            iq_id = self._ids.iq_id("enableCarbons")
            self._track_iq(iq_id, _PendingIq("carbons", None, now, config.iq_timeout), now)
            self._send_stanza(
                f'<iq type="set" id="{iq_id}"><enable xmlns="{NS_CARBONS}"/></iq>',
                _IQ,
                iq_id,
                countable=False,
                now=now,
            )
        if config.send_initial_presence:
            self._send_stanza("<presence/>", _PRESENCE, None, countable=False, now=now)
        if not wants_sm:
            self._session_ready(resumed=False, now=now)

    def _session_ready(self, *, resumed: bool, now: float) -> None:
        self._state = transition(self._state, Input.RECV_SESSION_READY)
        self._emit(Connected(jid=self._jid, resumed=resumed))
        self._arm_keepalive(now)
        self._arm_idle(now)
        if self._resend:
            self._flush_resend(now)

    def _flush_resend(self, now: float) -> None:
        """resend_unconfirmed: the old session's unsettled messages go out again, with
        their original ids, on the fresh session (or, without stream management to
        track them, are reported unconfirmed)."""
        resend, self._resend = self._resend, []
        for item in resend:
            if self._sm_active:
                self._send_stanza(item.xml, item.name_end, item.message_id, countable=True, now=now)
            else:
                self._unconfirmed(item.message_id)

    def _on_header(self, header: StreamHeader) -> None:
        if self._state is not StreamState.OPENING or self._header_seen:
            self._fail(StreamErrorCondition.BAD_FORMAT, "unexpected stream header")
            return
        self._header_seen = True
        attrs = header.attributes
        version = attrs.get("version", "")
        if not version.startswith("1."):
            self._fail(
                StreamErrorCondition.UNSUPPORTED_VERSION,
                f"stream version {version!r}, need 1.x",
            )
            return
        self._stream_id = attrs.get("id")
        self._emit(StreamOpened(stream_id=self._stream_id, server=attrs.get("from")))
