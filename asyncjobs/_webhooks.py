"""The webhook receiver's machinery: tokens, the WSGI application, the confirming polls.

A call is a hint, never trusted. The receiver checks the call's token (an HMAC under the key: per
job for services that take a URL per job, per provider for services with one account-level URL),
lets the provider read which jobs the call is about (:meth:`Provider.read_webhook`), answers at
once, and then -- on a small pool of its own, after the answer -- polls each job once through its
client (the one-poll-in-flight rule holds; the poll's answer is what the ledger records). A poll
that finds a job finished wakes its waiters (``asyncjobs._wake``).
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import contextlib
import hashlib
import hmac
import json
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import _telemetry, errors
from ._redaction import MASK, TOKEN_PREFIX, Redactor, get_logger
from ._results import WebhookRequest
from ._text import printable

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "MAX_BODY",
    "MAX_IDS_PER_CALL",
    "MAX_ID_LENGTH",
    "MAX_QUEUED",
    "Receiver",
    "WebhookRequest",
]

_log = get_logger("asyncjobs.webhooks")

#: The largest webhook body read, in bytes; a larger call is answered 413 and triggers nothing.
MAX_BODY = 64 * 1024
#: Confirming polls in flight at once, per receiver.
WORKERS = 4
#: The most job ids read from one call (each service names one job per call); the rest are not
#: read, so that a forged list of thousands costs no more than this many checks.
MAX_IDS_PER_CALL = 16
#: The longest job id read from a call (ConvertAPI's are 32 characters, Conversio's 24); a longer
#: one is not a job id of any service and is not read.
MAX_ID_LENGTH = 256
#: Confirming polls queued or running at once, per receiver (by default). Over it, a call is
#: confirmed only for a job this process or the ledger knows; any other is answered and dropped.
MAX_QUEUED = 1024
#: How many recent confirming polls are remembered (to keep one per job per poll interval).
_REMEMBERED = 16 * MAX_QUEUED

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def _check_public_url(url: object) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise errors.InvalidParameterError(
            f"public_url must be the http(s) URL the services call, not {url!r}",
            parameter="public_url",
        )
    parts = urlsplit(url)
    if not parts.hostname or parts.query or parts.fragment or "@" in parts.netloc:
        raise errors.InvalidParameterError(
            f"public_url must be a plain https://host/path URL (no query, fragment or user), not "
            f"{url!r}",
            parameter="public_url",
        )
    return url.rstrip("/")


#: The least a webhook key must have: characters, different characters, and bits of entropy
#: estimated from how its characters repeat (``secrets.token_urlsafe(32)`` has about 200).
MIN_KEY_LENGTH = 16
MIN_KEY_SYMBOLS = 8
MIN_KEY_BITS = 64
_GOOD_KEY = (
    "make one with python -c 'import secrets; print(secrets.token_urlsafe(32))' and pass key=... "
    "or set ASYNCJOBS_WEBHOOK_KEY (the same value in every process that submits or receives)"
)


def _key_bits(key: bytes) -> float:
    """The key's length times the Shannon entropy of its characters: a low estimate for a
    random key, and near zero for a key of one repeated character or a short repeated word."""
    counts = Counter(key)
    return -sum(n * math.log2(n / len(key)) for n in counts.values())


def _check_key(key: object) -> bytes:
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes) or len(key) < MIN_KEY_LENGTH:
        raise errors.ConfigurationError(
            f"the webhook key (ASYNCJOBS_WEBHOOK_KEY) must be a secret string of at least "
            f"{MIN_KEY_LENGTH} characters: {_GOOD_KEY}."
        )
    # never echo the key, nor any part of it: say only what is wrong with it
    if not key.strip() or len(set(key)) < MIN_KEY_SYMBOLS or _key_bits(key) < MIN_KEY_BITS:
        raise errors.ConfigurationError(
            f"the webhook key (ASYNCJOBS_WEBHOOK_KEY) is too easy to guess: it needs at least "
            f"{MIN_KEY_SYMBOLS} different characters and about {MIN_KEY_BITS} bits of "
            f"randomness, and anyone who guesses it can forge calls; {_GOOD_KEY}."
        )
    return key


class Receiver:
    """The webhook receiver: a WSGI application that turns the services' calls into verified
    wake-ups.

    Mount it at ``public_url``'s path (in Flask, Django, or Starlette/FastAPI through a WSGI
    bridge), or run it with ``asyncjobs webhooks serve``. It routes on ``PATH_INFO`` below its
    mount point (``SCRIPT_NAME``): ``/<provider>/<token>``. Connect clients to it with
    ``asyncjobs.connect(..., webhooks=receiver)``; ``submit(..., webhook=True)`` then builds the
    job's URL.

    Args:
        public_url: the URL the services call, as they see it (behind a proxy: the proxy's).
        key: the secret the tokens are made with (an HMAC of provider and job id under it); it is
            redacted everywhere, like every token.
        max_body: the largest body read, in bytes; a larger call is answered 413.
        max_queued: the most confirming polls queued or running at once; over it, calls are
            confirmed only for jobs this process or the ledger knows (the rest are answered 200
            and dropped).

    Raises:
        InvalidParameterError: ``public_url`` is not a plain http(s) URL.
        ConfigurationError: ``key`` is not a string (or bytes) of at least 16 characters with
            enough randomness (8 different characters, about 64 bits estimated): a key of spaces,
            or of one character repeated, is refused.
    """

    def __init__(
        self,
        public_url: str,
        key: str | bytes,
        *,
        max_body: int = MAX_BODY,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._url = _check_public_url(public_url)
        self._key = _check_key(key)
        self.max_body = _check_count(max_body, "max_body", "bytes")
        self.max_queued = _check_count(max_queued, "max_queued", "confirming polls")
        # the key, in every form, is masked from every message and log record while we live
        self._redactor = Redactor([self._key.decode("utf-8", "replace")])
        self._prefix = urlsplit(self._url).path.rstrip("/")
        self._lock = threading.Lock()
        self._clients: dict[str, list[Client]] = {}
        self._queued: set[tuple[str, str]] = set()
        # (provider, job id) -> when its last confirming poll may be followed by another
        self._next_confirm: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._pool: cf.ThreadPoolExecutor | None = None

    @property
    def public_url(self) -> str:
        """The URL the services call (without a trailing slash)."""
        return self._url

    @property
    def queued(self) -> int:
        """Confirming polls queued or running now (at most ``max_queued`` for jobs nobody here
        knows)."""
        with self._lock:
            return len(self._queued)

    def __repr__(self) -> str:
        return f"<asyncjobs.webhooks.Receiver {self._url} key={MASK}>"

    # -- tokens and URLs ------------------------------------------------------------------------------

    def _token(self, provider: str, job_id: str | None = None) -> str:
        message = provider if job_id is None else f"{provider}\x00{job_id}"
        digest = hmac.new(self._key, message.encode("utf-8"), hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def url_for(self, provider: str, job_id: str | None = None) -> str:
        """The URL a service calls: ``public_url/<provider>/<token>``.

        With ``job_id``, the token is that job's (an HMAC of provider and job id); without, it is
        the provider's (an HMAC of its name): the one URL to register with a service whose webhook
        is set per account (Conversio). The token is a secret: it is redacted everywhere.
        """
        if not isinstance(provider, str) or not provider or "/" in provider:
            raise errors.InvalidParameterError(
                f"provider must be a provider's name, not {provider!r}", parameter="provider"
            )
        return f"{self._url}/{provider}/{self._token(provider, job_id)}"

    # -- clients --------------------------------------------------------------------------------------

    def attach(self, client: Client) -> None:
        """Let ``client`` confirm the calls for its provider (``connect(webhooks=...)`` does); the
        receiver's key becomes one of the secrets its transport redacts."""
        client.provider.transport.redactor.add(self._key.decode("utf-8", "replace"))
        with self._lock:
            self._clients.setdefault(client.name, []).append(client)

    def detach(self, client: Client) -> None:
        """Stop confirming calls through ``client`` (closing it does)."""
        with self._lock:
            found = self._clients.get(client.name, [])
            if client in found:
                found.remove(client)

    def _client_for(self, provider: str, job_id: str | None = None) -> Client | None:
        with self._lock:
            found = list(self._clients.get(provider, ()))
        if job_id is not None:
            for client in found:
                if client.expects_call(job_id):
                    return client
        return found[-1] if found else None

    def close(self) -> None:
        """Stop the confirming polls not started yet (those running finish)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the WSGI application -------------------------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Answer one call: 200 (verified; the confirming poll runs after the answer), 404 (no
        such provider, a wrong or missing token), 405 (a method no service uses), 413 (too large),
        400 (a verified provider URL with a body its provider cannot read)."""
        started = time.time_ns()
        context = _telemetry.current_context()
        status, body, provider, verified = self._handle(environ)
        if verified and context is not None:
            self._trace_of(str(provider), verified[0])
        _telemetry.webhook_call(
            provider,
            verified,
            status.startswith("200"),
            int(status[:3]),
            started,
            context,
            method=printable(str(environ.get("REQUEST_METHOD") or "GET").upper()[:16]),
            path=self._shown_path(environ),
        )
        data = json.dumps(body).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _trace_of(self, provider: str, job_id: str) -> None:
        """Learn the job's trace from the ledger (``client.job`` reads its entry), so that the
        call's span joins it; a ledger that fails costs only that."""
        client = self._client_for(provider, job_id)
        if client is not None:
            with contextlib.suppress(errors.AsyncJobsError):
                client.job(job_id)

    def _path(self, environ: Environ) -> str:
        path = str(environ.get("PATH_INFO") or "")
        # mounted at the root (a proxy that keeps the public path): the public path is ours too
        if not environ.get("SCRIPT_NAME") and self._prefix and path.startswith(self._prefix + "/"):
            path = path[len(self._prefix) :]
        return path

    def _shown_path(self, environ: Environ) -> str:
        """The path of a call as a log line shows it: every part after the provider's name masked
        (the token, right or wrong: a token cut short is still most of a secret), no query
        string, at most 200 characters."""
        parts = self._path(environ).strip("/").split("/")
        shown = [parts[0][:64], *(MASK for _ in parts[1:])]
        return printable(f"{self._prefix}/{'/'.join(shown)}"[:200])

    def _handle(self, environ: Environ) -> tuple[str, dict[str, Any], str | None, list[str]]:
        """The answer to a call, the provider it came for (``None`` when no provider here has the
        path's name) and the jobs it verified for."""
        parts = self._path(environ).strip("/").split("/")
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        if len(parts) != 2 or not all(parts):
            return "404 Not Found", {"error": "not found"}, None, []
        provider, token = parts
        client = self._client_for(provider)
        if client is None or not client.provider.capabilities.webhooks:
            return "404 Not Found", {"error": "not found"}, None, []
        if method not in ("GET", "POST", "PUT"):
            return "405 Method Not Allowed", {"error": "method not allowed"}, provider, []
        body = _read_body(environ, self.max_body)
        if body is None:
            too_large = {"error": f"bodies are capped at {self.max_body} bytes"}
            return "413 Payload Too Large", too_large, provider, []
        request = WebhookRequest(
            method=method,
            query=_query(str(environ.get("QUERY_STRING") or "")),
            headers=_headers(environ),
            body=body,
        )
        # the provider's own token opens calls about any of its jobs: only for a service whose
        # webhook is set per account, or one that issues job ids itself (the URL went out before
        # the id existed); a provider's token never opens a per-job service's calls
        caps = client.provider.capabilities
        per_account = caps.account_webhook or not caps.idempotent_submit
        account = per_account and hmac.compare_digest(
            token.encode(), self._token(provider).encode()
        )
        try:
            # at most MAX_IDS_PER_CALL ids are read, before any work per id
            read = islice(client.provider.read_webhook(request), MAX_IDS_PER_CALL)
            ids = [i for i in dict.fromkeys(map(str, read)) if 0 < len(i) <= MAX_ID_LENGTH]
        except Exception as exc:  # a plugin's parser failing on a stranger's body: not our call
            _log.debug("%s: a webhook call was not readable: %s", provider, exc)
            ids = []
            if account:
                return "400 Bad Request", {"error": f"not a {provider} webhook call"}, provider, []
        verified = (
            ids
            if account
            else [
                i
                for i in ids
                if hmac.compare_digest(token.encode(), self._token(provider, i).encode())
            ]
        )
        if not verified:
            return "404 Not Found", {"error": "not found"}, provider, []
        for job_id in verified:
            self._confirm_later(provider, job_id)
        return "200 OK", {"ok": True}, provider, verified

    # -- the confirming polls -------------------------------------------------------------------------

    def _confirm_later(self, provider: str, job_id: str) -> None:
        """Queue one confirming poll of the job, unless one is queued or running, or one started
        less than a poll interval ago (a replayed call costs nothing more), or the queue is full
        and nobody here knows the job."""
        key = (provider, job_id)
        client = self._client_for(provider, job_id)
        if client is None:
            return
        now = time.monotonic()
        with self._lock:
            if key in self._queued or self._next_confirm.get(key, now) > now:
                return  # a poll of it is queued, running or just made: this call adds nothing
            full = len(self._queued) >= self.max_queued
        # over the bound, only a job known here or to the ledger is worth a place in the queue;
        # the ledger is asked in this thread, and a ledger that fails knows nothing
        if full and not _expected(client, job_id):
            _log.debug("%s: a webhook call for job %s was dropped: queue full", provider, job_id)
            return
        with self._lock:
            if key in self._queued:
                return
            self._queued.add(key)
            self._remember(key, now + _interval(client))
            if self._pool is None:
                self._pool = cf.ThreadPoolExecutor(WORKERS, thread_name_prefix="asyncjobs-webhook")
            pool = self._pool
        try:
            pool.submit(self._confirm, provider, job_id)
        except RuntimeError:  # closed meanwhile
            with self._lock:
                self._queued.discard(key)

    def _remember(self, key: tuple[str, str], until: float) -> None:
        """Keep when the job's next confirming poll may come (under the lock); forget the
        entries past, and the oldest beyond ``_REMEMBERED``."""
        self._next_confirm.pop(key, None)
        self._next_confirm[key] = until
        now = time.monotonic()
        while self._next_confirm:
            first, when = next(iter(self._next_confirm.items()))
            if when > now and len(self._next_confirm) <= _REMEMBERED:
                break
            del self._next_confirm[first]

    def _confirm(self, provider: str, job_id: str) -> None:
        """One poll of the job through its client, unless it is unknown or known finished."""
        try:
            client = self._client_for(provider, job_id)
            if client is None or not _expected(client, job_id):
                return
            info = client.status(job_id)  # recorded in the ledger; a finished job wakes waiters
            _log.debug(
                "%s: job %s confirmed %s after a webhook call", provider, job_id, info.status
            )
        except errors.AsyncJobsError as exc:
            _log.info("%s: job %s: the poll after a webhook call failed: %s", provider, job_id, exc)
        except Exception:
            _log.exception("%s: job %s: the poll after a webhook call raised", provider, job_id)
        finally:
            with self._lock:
                self._queued.discard((provider, job_id))


def _interval(client: Client) -> float:
    """The least time between two confirming polls of one job: the poll policy's ``initial``
    delay (never under its ``min_interval``). ``initial`` is the policy's shortest interval over
    which a job's news is worth a look; ``min_interval`` only floors computed delays and may be
    zero, which would let a replayed call poll without limit. A genuine second call comes much
    later (Conversio retries after minutes), so the interval costs a real call nothing."""
    policy = client.poll_policy
    return max(policy.initial, policy.min_interval)


def _check_count(value: object, name: str, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise errors.InvalidParameterError(
            f"{name} must be a positive number of {what}, not {value!r}", parameter=name
        )
    return value


def _query(text: str) -> dict[str, tuple[str, ...]]:
    """The query string's first fields (no service sends more than a few), name -> values."""
    fields = text.split("&", _MAX_FIELDS)[:_MAX_FIELDS]
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl("&".join(fields)):
        out.setdefault(name, []).append(value)
    return {name: tuple(values) for name, values in out.items()}


#: The most query fields read from a call.
_MAX_FIELDS = 2 * MAX_IDS_PER_CALL


def _expected(client: Client, job_id: str) -> bool:
    """Whether a call for ``job_id`` is worth a poll: a job this process expects a call for or
    waits on, or one the ledger knows and has not seen finished. A job nobody knows (or one
    already finished) costs nothing."""
    from . import _wake

    if client.expects_call(job_id) or _wake.waited(client.name, job_id):
        return True
    if client.ledger is None:
        return False
    try:
        entry = client.ledger.get(client.name, job_id)
    except errors.LedgerError:
        return False
    if entry is None:
        return False
    return entry.info is None or not entry.info.finished


def _read_body(environ: Environ, limit: int) -> bytes | None:
    """The body, or ``None`` when it is over ``limit`` bytes (then it is not read)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    text = str(environ.get("CONTENT_LENGTH") or "").strip()
    if text:
        try:
            length = int(text)
        except ValueError:
            return None
        if length > limit:
            return None
        data: bytes = stream.read(length) if length > 0 else b""
        return data
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and a stream that may not end: no body
    data = stream.read(limit + 1)
    return None if len(data) > limit else data


def _headers(environ: Environ) -> dict[str, str]:
    out = {}
    for name, value in environ.items():
        if name.startswith("HTTP_"):
            out[name[5:].replace("_", "-").lower()] = str(value)
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            out[name.replace("_", "-").lower()] = str(environ[name])
    return out


def receiver_from_env(environ: dict[str, str] | Any) -> Receiver | None:
    """The receiver ``ASYNCJOBS_WEBHOOK_URL`` and ``ASYNCJOBS_WEBHOOK_KEY`` describe, if set (one
    per pair of values in the process, so that its clients share it).

    Raises:
        ConfigurationError: only one of them is set, or they are wrong.
    """
    url = environ.get("ASYNCJOBS_WEBHOOK_URL") or None
    key = environ.get("ASYNCJOBS_WEBHOOK_KEY") or None
    if url is None and key is None:
        return None
    if url is None or key is None:
        missing = "ASYNCJOBS_WEBHOOK_KEY" if url else "ASYNCJOBS_WEBHOOK_URL"
        raise errors.ConfigurationError(
            f"webhooks need both ASYNCJOBS_WEBHOOK_URL and ASYNCJOBS_WEBHOOK_KEY; {missing} is not "
            "set. Set it, or unset the other."
        )
    with _env_lock:
        found = _from_env.get((url, key))
        if found is None:
            try:
                found = _from_env[(url, key)] = Receiver(url, key)
            except errors.InvalidParameterError as exc:
                raise errors.ConfigurationError(f"ASYNCJOBS_WEBHOOK_URL: {exc}") from None
    return found


_env_lock = threading.Lock()
_from_env: dict[tuple[str, str], Receiver] = {}


def check_receiver(value: object) -> Receiver | None:
    """``connect(webhooks=...)``: a :class:`Receiver`, ``None`` (from the environment, if set) or
    ``False`` (none)."""
    import os

    if value is None:
        return receiver_from_env(os.environ)
    if value is False:
        return None
    if isinstance(value, Receiver):
        return value
    raise errors.InvalidParameterError(
        f"webhooks must be an asyncjobs.webhooks.Receiver, None or False, not "
        f"{type(value).__name__}",
        parameter="webhooks",
    )
