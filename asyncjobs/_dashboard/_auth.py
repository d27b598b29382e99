"""Who may act on the dashboard: the holder of its token. Scripts send it as ``Authorization:
Bearer <token>``; a person signs in with it once and gets a session cookie (signed, HttpOnly,
SameSite=Strict), and every form carries a CSRF token bound to that session. The token itself is
never stored in the cookie, a page or a log: a session is a random nonce and its HMAC under a key
derived from the token."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["MIN_TOKEN", "Guard"]

#: The shortest token taken (a token is a password: long and random).
MIN_TOKEN = 16


class Guard:
    """Checks the token, a session cookie and a form's CSRF token (constant-time comparisons).

    Args:
        token: the dashboard's token; ``None`` makes it read-only (nothing is ever allowed).
    """

    __slots__ = ("_key", "_token")

    def __init__(self, token: str | None) -> None:
        self._token = None if token is None else token.encode("utf-8")
        self._key = (
            None
            if token is None
            else hashlib.sha256(b"asyncjobs-dashboard-session\x00" + self._token_bytes()).digest()
        )

    def __repr__(self) -> str:
        return f"<Guard {'read-only' if self._token is None else 'with a token'}>"

    def _token_bytes(self) -> bytes:
        assert self._token is not None
        return self._token

    @property
    def read_only(self) -> bool:
        """Whether the dashboard has no token (no action is ever allowed)."""
        return self._token is None

    def bearer(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the token."""
        if self._token is None or not header:
            return False
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode("utf-8"), self._token)

    def sign_in(self, offered: str) -> str | None:
        """A new session's cookie value when ``offered`` is the token, else ``None``."""
        if self._token is None or not hmac.compare_digest(offered.encode("utf-8"), self._token):
            return None
        nonce = secrets.token_urlsafe(24)
        return f"{nonce}.{self._mac(nonce)}"

    def session(self, cookie: str | None) -> bool:
        """Whether a cookie value is a session this dashboard made."""
        if self._token is None or not cookie or "." not in cookie:
            return False
        nonce, _, mac = cookie.partition(".")
        return hmac.compare_digest(mac, self._mac(nonce))

    def csrf(self, cookie: str) -> str:
        """The CSRF token of a session (what its forms carry)."""
        return self._mac("csrf:" + cookie)

    def csrf_ok(self, cookie: str | None, offered: str | None) -> bool:
        """Whether a form's CSRF token belongs to the session of ``cookie``."""
        if not self.session(cookie) or not offered:
            return False
        assert cookie is not None
        return hmac.compare_digest(offered, self.csrf(cookie))

    def _mac(self, text: str) -> str:
        assert self._key is not None
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()
