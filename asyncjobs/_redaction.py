"""Keeping secrets out of messages, log records and reprs."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import weakref
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "TOKEN_PREFIX",
    "Redactor",
    "encodings",
    "get_logger",
    "redact_all",
    "redact_value",
]

MASK = "***"
_MIN_SECRET = 4  # shorter values would mask ordinary words

#: What every webhook token starts with (see ``asyncjobs._webhooks``): tokens are masked by their
#: shape, in every redactor, so that thousands of per-job tokens cost one search, not one each.
TOKEN_PREFIX = "whk_"
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{20,}")

_live: weakref.WeakSet[Redactor] = weakref.WeakSet()

#: A secret that is spelled like a word (``wrong``, ``Secret``, ``TEST``): letters only, in one case
#: or capitalised, at most 16 of them. Masking every occurrence of such a value would garble
#: ordinary text ("client id or client secret is ***"), so it is masked where it stands as a
#: value (see :func:`_as_value`), and as a whole word only. Every other secret, and every encoded
#: form of any secret, is masked wherever it appears, whole or in part of a longer string.
_WORDLIKE = re.compile(r"(?:[a-z]+|[A-Z][a-z]+|[A-Z]+)")
_WORDLIKE_MAX = 16
#: Characters right before a value (``k=v``, ``k: v``, ``"v"``, ``/v``, ``?k=v``, ``<v>``, ``[v``)...
_OPENS_VALUE = frozenset("=:\"'`/?&#@<>[{|\\")
#: ...or right after it, with no space between (``v"``, ``v&``, ``v@host``, ``v/``).
_CLOSES_VALUE = frozenset("\"'`&@/=<>]}|\\")
#: The words an echoed credential follows (``Bearer v``, ``invalid key v``, ``password v``).
_NAMES_VALUE = re.compile(
    r"\b(?:bearer|basic|token|key|apikey|api_key|secret|password|passwd|pwd)\s+$", re.I
)


def _html_escape(text: str) -> str:
    """``html.escape(text)``, without loading the ``html`` package (and its table of entities)
    on a client's first use."""
    for char, entity in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&quot;"),
        ("'", "&#x27;"),
    ):
        text = text.replace(char, entity)
    return text


def encodings(secret: str) -> set[str]:
    """The forms a secret takes when a service echoes it back: as it is, URL-encoded (form bodies,
    query strings; upper- and lower-case escapes), JSON-escaped, HTML-escaped and base64."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), _html_escape(secret)}
    forms |= {f.lower() for f in list(forms) if "%" in f} | {
        f.replace("%2B", "%2b").replace("%2F", "%2f") for f in list(forms)
    }
    for escaped in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
        forms |= {escaped, escaped.replace("/", "\\/")}  # some encoders escape '/' too
    raw = secret.encode("utf-8", "surrogatepass")
    for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = b64.decode("ascii")
        forms |= {text, text.rstrip("=")}
    return {f for f in forms if len(f) >= _MIN_SECRET}


def wordlike(secret: str) -> bool:
    """Whether ``secret`` is spelled like an ordinary word, and so masked only where it stands as a
    value (see :class:`Redactor`)."""
    return len(secret) <= _WORDLIKE_MAX and _WORDLIKE.fullmatch(secret) is not None


def _as_value(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` stands as a value rather than as a word of a sentence: the whole
    text; right after ``=``, ``:``, a quote, ``/``, ``?``, ``&``, ``<``, ``[``... (spaces between
    allowed); right before a quote, ``&``, ``@``, ``/``... (no space); or after the name of a
    credential (``Bearer``, ``key``, ``password``...)."""
    if not text[:start].strip() and not text[end:].strip():
        return True
    before = text[:start].rstrip(" \t")
    if before and before[-1] in _OPENS_VALUE:
        return True
    if end < len(text) and text[end] in _CLOSES_VALUE:
        return True
    return _NAMES_VALUE.search(text[max(0, start - 24) : start]) is not None


class Redactor:
    """The secrets of one client; replaces each with ``***`` in any text.

    A secret is masked wherever it appears, whole or inside a longer string, in every encoded form
    (see :func:`encodings`) -- except a secret spelled like an ordinary word (letters only, at most
    16, e.g. ``wrong``): that one is masked as a whole word where it stands as a value (``k=wrong``,
    ``"wrong"``, ``/wrong``, ``Bearer wrong``, the whole text), not in a sentence such as "client
    secret is wrong". Its encoded forms that differ from it (base64...) are masked everywhere.

    Secrets learned later (a fresh OAuth token) are added with :meth:`add`.
    """

    def __init__(self, secrets: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self._words: tuple[str, ...] = ()
        self._word_pattern: re.Pattern[str] | None = None
        for s in secrets:
            self.add(s)
        _live.add(self)

    def add(self, secret: str | None) -> None:
        """Redact ``secret`` from now on (values under four characters are ignored)."""
        if not secret or len(secret) < _MIN_SECRET:
            return
        forms = encodings(secret)
        words = {f for f in forms if wordlike(f)}
        forms -= words
        with self._lock:
            if not forms <= set(self._secrets):
                # longest first, so that a secret containing another is masked whole
                self._secrets = tuple(sorted({*self._secrets, *forms}, key=len, reverse=True))
            if not words <= set(self._words):
                self._words = tuple(sorted({*self._words, *words}, key=len, reverse=True))
                alternatives = "|".join(map(re.escape, self._words))
                self._word_pattern = re.compile(
                    rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])"
                )

    def __call__(self, text: str) -> str:
        if TOKEN_PREFIX in text:
            text = _TOKEN.sub(MASK, text)
        for s in self._secrets:
            if s in text:
                text = text.replace(s, MASK)
        pattern = self._word_pattern
        if pattern is not None and pattern.search(text) is not None:
            text = pattern.sub(
                lambda m: MASK if _as_value(m.string, m.start(), m.end()) else m.group(), text
            )
        return text

    def clip(self, text: str, limit: int = 300) -> str:
        """``text`` redacted, then cut to ``limit`` characters. Redacting first means a secret that
        straddles the cut is masked whole; a cut that still ends in the first characters of a
        secret (four or more) masks them too."""
        text = self(text)
        if len(text) <= limit:
            return text
        cut = text[:limit]
        for s in self._secrets:
            for n in range(min(len(s) - 1, len(cut)), _MIN_SECRET - 1, -1):
                if cut.endswith(s[:n]):
                    cut = cut[:-n] + MASK
                    break
        for s in self._words:  # a word-like secret's start, where a value stands
            for n in range(min(len(s) - 1, len(cut)), _MIN_SECRET - 1, -1):
                start = len(cut) - n
                word_start = not cut[start - 1 : start].isalnum()
                if cut.endswith(s[:n]) and word_start and _as_value(cut, start, len(cut)):
                    cut = cut[:start] + MASK
                    break
        return cut + "…"

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets) + len(self._words)} secrets)"


def redact_all(text: str) -> str:
    """Redact the secrets of every live client from ``text``."""
    for r in list(_live):
        text = r(text)
    return text


def redact_value(value: object, redact: Redactor | None = None) -> object:
    """``value`` with every string inside it (dict keys and values, list items) redacted, by
    ``redact`` or, without one, by every live client's redactor."""
    fix = redact or redact_all
    if isinstance(value, str):
        return fix(value)
    if isinstance(value, dict):
        return {fix(str(k)): redact_value(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, redact) for v in value]
    return value


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
