"""OAuth client-credential tokens: fetched on first need, cached, refreshed before they expire and
after a 401, by one thread at a time for all threads of a client."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["TokenCache", "refresh_margin"]

#: Longest margin before ``expires_in`` runs out at which a token is refreshed, in seconds.
MAX_MARGIN = 60.0


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which to refresh: 10 % of the lifetime, at most a minute."""
    return min(MAX_MARGIN, 0.1 * max(lifetime, 0.0))


class TokenCache:
    """One client's access token.

    ``get`` returns the cached token while it is fresh; otherwise one thread fetches a new one (the
    others wait on the lock and then find it fresh: a double-checked expiry). ``invalidate`` drops a
    token the service refused, unless another thread has already replaced it.

    Args:
        fetch: requests a new token; returns it with its lifetime in seconds (``None`` if unknown).
        clock: monotonic seconds (tests pass a fake).
        default_lifetime: the lifetime assumed when the service does not say.
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float | None]],
        *,
        clock: Callable[[], float] = time.monotonic,
        default_lifetime: float = 3600.0,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._default = default_lifetime
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.fetches = 0  # tokens requested so far (for tests and diagnostics)

    def __repr__(self) -> str:
        state = "empty" if self._token is None else "cached"
        return f"<TokenCache {state} fetches={self.fetches}>"

    def _fresh(self) -> str | None:
        token = self._token
        if token is not None and self._clock() < self._refresh_at:
            return token
        return None

    def get(self) -> str:
        """A fresh token, fetching one if needed (one fetch at a time for all threads)."""
        token = self._fresh()
        if token is not None:
            return token
        with self._lock:
            token = self._fresh()
            if token is not None:
                return token
            asked_at = self._clock()
            token, lifetime = self._fetch()
            self.fetches += 1
            life = (
                float(lifetime)
                if isinstance(lifetime, (int, float)) and math.isfinite(lifetime) and lifetime > 0
                else self._default  # absent, zero, negative, NaN or infinite: not a lifetime
            )
            life = min(life, self._default * 24)
            self._token = token
            self._refresh_at = asked_at + life - refresh_margin(life)
            return token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` (refused by the service), unless it was already replaced."""
        with self._lock:
            if self._token == token:
                self._token = None
