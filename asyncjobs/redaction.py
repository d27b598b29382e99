"""Keeping secrets out of messages, log records and reprs."""

from __future__ import annotations

import logging
import threading
import weakref

__all__ = ["MASK", "Redactor", "get_logger", "redact_all"]

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words

_live: weakref.WeakSet[Redactor] = weakref.WeakSet()


class Redactor:
    """The secrets of one client; replaces each with ``***`` in any text.

    Secrets learned later (a fresh OAuth token) are added with :meth:`add`.
    """

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        for s in secrets:
            self.add(s)
        _live.add(self)

    def add(self, secret: str | None) -> None:
        """Redact ``secret`` from now on (values under four characters are ignored)."""
        if not secret or len(secret) < _MIN_SECRET:
            return
        with self._lock:
            if secret not in self._secrets:
                # longest first, so that a secret containing another is masked whole
                self._secrets = tuple(sorted({*self._secrets, secret}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"


def redact_all(text: str) -> str:
    """Redact the secrets of every live client from ``text``."""
    for r in list(_live):
        text = r(text)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_all(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = _RedactingFilter()


def get_logger(name: str = "asyncjobs") -> logging.Logger:
    """A logger whose records are redacted of every live client's secrets. Providers log through one
    of these (``get_logger("asyncjobs.acme")``): a filter only applies to its own logger's records."""
    log = logging.getLogger(name)
    if _FILTER not in log.filters:
        log.addFilter(_FILTER)
    return log
