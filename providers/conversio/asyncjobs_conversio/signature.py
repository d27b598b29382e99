"""Conversio's webhook signature: an HS256 JSON Web Token in ``Authorization: Bearer <token>``.

Facts (the vendor's API docs, ``Receiptful/receiptful-api-docs``, ``source/includes/_webhooks.md``,
"Security Signature"): every webhook carries a JWT signed with HMAC-SHA256; its header has ``alg``
"HS256", ``typ`` "JWT" and ``kid`` naming the secret it was signed with ("API Key" for a webhook
registered through the API with an API key, "Client Secret" for one of a Partner App); its claims are
``jti`` (random and unique: a repeated one "could mean an attacker is re-using tokens"), ``iss``
"Conversio" and ``iat`` (UNIX time when the request was sent; a retry is signed anew). The docs' own
example token spells the id claim ``jit``: both spellings are read.

:class:`Verifier` checks all of it; :func:`sign` makes such a token (the sandbox's calls).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

__all__ = ["ALGORITHM", "ISSUER", "KID_API_KEY", "LEEWAY", "MAX_AGE", "Verifier", "sign"]

ALGORITHM = "HS256"
ISSUER = "Conversio"
#: The ``kid`` of a webhook registered through the API with an API key (signed with that key).
KID_API_KEY = "API Key"
#: A token issued longer ago than this (seconds) is refused: the vendor signs each attempt when
#: it sends it, so a genuine token is seconds old.
MAX_AGE = 300.0
#: The clock skew forgiven between Conversio and this machine, in seconds, both ways.
LEEWAY = 30.0
#: The most token ids remembered (the oldest are forgotten first, once past their window).
REMEMBERED = 100_000
_MAX_JTI = 256


class _HS256(HMACAlgorithm):
    """HMAC-SHA256 for a key of any length: the key is the shop's API key, not ours to choose,
    so PyJWT's warning about short keys would only be noise."""

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)

    def check_key_length(self, key: bytes) -> str | None:
        """No warning: see the class."""
        return None


#: JWS with HS256 only: ``alg: none`` and every other algorithm are unknown to it.
_JWS = jwt.PyJWS(algorithms=[])
_JWS.register_algorithm(ALGORITHM, _HS256())


def sign(secret: str, *, kid: str = KID_API_KEY, now: float | None = None) -> str:
    """A token as Conversio signs a webhook call: HS256 under ``secret``, a fresh ``jti``,
    ``iat`` ``now`` (default: the present), ``iss`` "Conversio"."""
    claims = {
        "jti": str(uuid.uuid1()),
        "iat": int(time.time() if now is None else now),
        "iss": ISSUER,
    }
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _JWS.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


class Verifier:
    """Checks the ``Authorization`` header of Conversio's webhook calls, each token once.

    Args:
        secrets: ``kid`` -> the secret a token naming it must be signed with (the API key under
            ``"API Key"``); a token naming any other ``kid`` is refused.
        max_age: a token issued longer ago than this (seconds) is refused.
        leeway: clock skew forgiven, in seconds (an ``iat`` up to this far in the future passes).
        clock: the present, in UNIX seconds.
    """

    def __init__(
        self,
        secrets: Mapping[str, str],
        *,
        max_age: float = MAX_AGE,
        leeway: float = LEEWAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = dict(secrets)
        self.max_age = max_age
        self.leeway = leeway
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()  # jti -> when it may be forgotten

    def __repr__(self) -> str:
        return f"<Conversio webhook verifier kids={sorted(self._secrets)}>"

    def verify(self, authorization: str | None) -> bool:
        """Whether ``authorization`` (the header's value) is ``Bearer <token>`` with a token
        Conversio signed for us, issued within ``max_age``, and never seen before. A token that
        passes is remembered, so that the same one again is refused."""
        claims = self._claims(authorization)
        if claims is None:
            return False
        jti, iat = claims
        now = self._clock()
        with self._lock:
            while self._seen:  # forget the ids whose tokens have expired anyway
                first, until = next(iter(self._seen.items()))
                if until > now and len(self._seen) < REMEMBERED:
                    break
                del self._seen[first]
            if jti in self._seen:
                return False  # a replayed token
            self._seen[jti] = iat + self.max_age + 2 * self.leeway
        return True

    def _claims(self, authorization: str | None) -> tuple[str, float] | None:
        """The token's id and issue time, if it is signed, fresh and well formed."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip().strip("'")  # the vendor's curl examples quote the token
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            header = _JWS.get_unverified_header(token)
            secret = self._secrets.get(str(header.get("kid")))
            if not secret or header.get("alg") != ALGORITHM:
                return None
            claims: Any = json.loads(_JWS.decode(token, secret, algorithms=[ALGORITHM]))
        except (jwt.PyJWTError, ValueError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        jti, iat = claims.get("jti", claims.get("jit")), claims.get("iat")
        if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI:
            return None
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            return None
        age = self._clock() - iat
        if age > self.max_age + self.leeway or age < -self.leeway:
            return None
        return jti, float(iat)
