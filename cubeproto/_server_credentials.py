"""What the server keeps to check a user's password: SCRAM keys, never the password.

:class:`UserAuth` holds the keys (RFC 5802) for one user, :func:`make_user_auth` derives
them from a password, :func:`check_plain_password` checks a password against them.  The
server role's SASL exchange (``_server_negotiation.py``) checks PLAIN and SCRAM logins
with them; the local server stores them.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from scramp import ScramException, ScramMechanism

from ._memo import remember
from .errors import (
    LocalProtocolError,
)

__all__ = ["MIN_ITERATIONS", "MIN_SALT_BYTES", "UserAuth", "check_plain_password", "make_user_auth"]

_SCRAM_HASHES = {"SCRAM-SHA-1": "SHA-1", "SCRAM-SHA-256": "SHA-256"}
_HASHLIB = {"SHA-1": "sha1", "SHA-256": "sha256"}


@dataclass(frozen=True, slots=True, kw_only=True)
class UserAuth:
    """What the server keeps to check one user's password: SCRAM keys, not the password.

    ``keys`` maps a hash name (``"SHA-1"``, ``"SHA-256"``) to ``(stored_key, server_key)``
    derived from the password with ``salt`` and ``iterations`` (RFC 5802).  PLAIN logins
    are checked by deriving the same keys from the offered password.  ``tokens`` are other
    secrets accepted in place of the password, over PLAIN and SCRAM alike: ConnectyCube
    lets a user log in to chat with a live REST session token instead of the password.

    How SCRAM checks one of several secrets: the server-first message carries a salt and
    an iteration count before the client has proved anything, so the server cannot first
    learn which secret the client holds.  Every secret of a user is therefore salted with
    the *same* ``salt`` and ``iterations`` (a token's keys are derived with the user's
    salt, see :meth:`scram_keys`), which makes the server-first message the same whatever
    the client holds.  The client's proof is ``ClientKey XOR HMAC(StoredKey, AuthMessage)``;
    for each candidate ``StoredKey`` the server recovers ``ClientKey`` and accepts exactly
    when ``H(ClientKey) == StoredKey`` (a wrong candidate matches with probability about
    2**-160).  The ``ServerSignature`` in the success message is made with the ServerKey of
    the candidate that matched, so the client still authenticates the server.  Every
    candidate is tried, with no early exit, so the time taken does not say which secret
    matched.
    """

    salt: bytes
    iterations: int
    keys: Mapping[str, tuple[bytes, bytes]]
    tokens: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.iterations < 1 or not self.salt:
            raise LocalProtocolError("UserAuth needs a salt and at least one iteration")
        if not set(self.keys) <= set(_HASHLIB):
            raise LocalProtocolError(f"unknown hash in UserAuth.keys: {sorted(self.keys)}")

    def scram_keys(self, hash_name: str) -> list[tuple[bytes, bytes]]:
        """Every ``(stored_key, server_key)`` a SCRAM exchange over ``hash_name`` may be
        proved against: the password's keys first, then each token's, derived with this
        user's ``salt`` and ``iterations`` (one PBKDF2 per token and hash, remembered for
        the process: about 5 ms each at 4096 iterations, so a user's first SCRAM login
        after N new tokens costs N derivations on the caller's thread)."""
        candidates = [self.keys[hash_name]] if hash_name in self.keys else []
        for token in sorted(self.tokens):
            key = (token, self.salt, self.iterations, hash_name)
            derived = _TOKEN_KEYS.get(key)
            if derived is None:
                derived = remember(
                    _TOKEN_KEYS, key, _derive(token, self.salt, self.iterations, hash_name), 4096
                )
            if derived:
                candidates.append((derived[0], derived[1]))
        return candidates


# Token keys derived so far, by (token, salt, iterations, hash): a token costs one PBKDF2
# per hash, once.  ``()`` remembers a secret scramp refuses.
_TOKEN_KEYS: dict[tuple[str, bytes, int, str], tuple[bytes, ...]] = {}


def _derive(secret: str, salt: bytes, iterations: int, hash_name: str) -> tuple[bytes, ...]:
    """SCRAM ``(stored_key, server_key)`` for ``secret``; ``()`` when scramp refuses it."""
    mechanism = "SCRAM-SHA-256" if hash_name == "SHA-256" else "SCRAM-SHA-1"
    try:
        _, stored_key, server_key, _ = ScramMechanism(mechanism).make_auth_info(
            secret, iteration_count=iterations, salt=salt
        )
    except (ScramException, ValueError, UnicodeError):
        return ()
    return stored_key, server_key


#: The shortest salt the server derives keys with (scramp's own minimum).
MIN_SALT_BYTES = 12
#: The lowest iteration count (RFC 7677 section 4: "at least 4096").
MIN_ITERATIONS = 4096


def make_user_auth(
    password: str, *, salt: bytes, iterations: int = 4096, tokens: frozenset[str] = frozenset()
) -> UserAuth:
    """Derive a :class:`UserAuth` for ``password`` (both SHA-1 and SHA-256 keys).

    Refuses a salt under :data:`MIN_SALT_BYTES` or fewer than :data:`MIN_ITERATIONS`
    iterations itself: scramp 1.5 does too, but the scramp that Python 3.10 installs
    (1.4) does not, and the rule must not depend on which one is present.
    """
    if len(salt) < MIN_SALT_BYTES or iterations < MIN_ITERATIONS:
        raise LocalProtocolError(
            f"cannot derive SCRAM keys: the salt must have at least {MIN_SALT_BYTES} bytes "
            f"(got {len(salt)}) and the iteration count be at least {MIN_ITERATIONS} "
            f"(got {iterations})"
        )
    keys = {}
    for mechanism, hash_name in _SCRAM_HASHES.items():
        try:
            _, stored_key, server_key, _ = ScramMechanism(mechanism).make_auth_info(
                password, iteration_count=iterations, salt=salt
            )
        except ScramException as exc:  # salt < 12 bytes, iterations < 4096 (RFC 7677)
            raise LocalProtocolError(f"cannot derive SCRAM keys: {exc}") from None
        keys[hash_name] = (stored_key, server_key)
    return UserAuth(salt=salt, iterations=iterations, keys=keys, tokens=tokens)


def check_plain_password(auth: UserAuth, password: str) -> bool:
    """Whether ``password`` (or a token) matches ``auth``; constant-time comparisons."""
    ok = False
    for token in auth.tokens:
        ok |= hmac.compare_digest(token.encode(), password.encode())
    if ok:
        return True
    hash_name = "SHA-256" if "SHA-256" in auth.keys else next(iter(auth.keys), None)
    if hash_name is None:
        return False
    mechanism = "SCRAM-SHA-256" if hash_name == "SHA-256" else "SCRAM-SHA-1"
    try:
        _, stored_key, _, _ = ScramMechanism(mechanism).make_auth_info(
            password, iteration_count=auth.iterations, salt=auth.salt
        )
    except (ScramException, ValueError, UnicodeError):
        return False
    return hmac.compare_digest(stored_key, auth.keys[hash_name][0])
