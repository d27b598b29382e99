"""A local emulator of Conversio's async jobs, for tests, demos and benchmarks.

Routes, as on ``app.conversio.com``: the API under ``/api/v1`` (three export endpoints, ``GET
/async-jobs`` and ``GET /async-jobs/{id}``), and the finished exports' CSV files at ``/async-jobs/{id}.csv``
outside the API, where the real service puts them.

Behaviour: a job is ``pending`` (``startedAt`` null) for ``start_after`` sandbox seconds, then running
(still ``pending``, with ``startedAt``) until ``duration`` has passed, then ``done`` with the CSV's URL, or
``failed`` when its newsletter or segment id contains "fail". A finished job is removed one week later
(404). Each API key is a shop that sees only its own jobs. API requests whose ``Accept``
excludes JSON get 406 (``*/*`` and none are accepted), a wrong key 401, unknown newsletters or segments 404, all with ``{"errors":
[...]}``. :meth:`ConversioSandbox.rate_limit` and the inherited ``faults`` inject failures.

Webhooks, as the vendor's docs say (``_webhooks.md``): a shop registers its endpoints through
``GET/POST /api/v1/webhooks`` (and ``GET/DELETE /api/v1/webhooks/{id}``), one per topic and endpoint;
:attr:`ConversioSandbox.webhook` stands for an endpoint set in the shop's settings (any shop). When a
job ends, the sandbox POSTs the topic ``async-job/completed`` to each, from its own threads, signed
with an HS256 JWT in ``Authorization: Bearer`` under the shop's API key (``kid`` "API Key", a fresh
``jti`` and ``iat`` per attempt, ``iss`` "Conversio"); ``meta.ts`` is the first attempt's time in
integer milliseconds. A call that fails (no answer, or not 2xx) is retried at the documented times
after the first attempt (``webhook_retries``, sandbox seconds). ``webhooks.drop()`` /
``webhooks.delay()`` lose or hold calls. Endpoints must be on 127.0.0.1 or localhost.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs.sandbox import SandboxApp, json_response

from .signature import sign

__all__ = ["RETRIES", "TOPICS", "ConversioSandbox", "csv_for"]

WEEK = 7 * 24 * 3600.0
API = "/api/v1"
#: The topics a webhook may subscribe to.
TOPICS = (
    "newsletter-template/sent",
    "newsletter-email/sent",
    "async-job/completed",
    "abandoned-cart-email/sent",
)
_MINUTE, _HOUR, _DAY = 60.0, 3600.0, 86400.0
#: When a failed call is retried, in seconds after its first attempt: "up to 6 times" at the first
#: six times of the docs' progression (10 min ... 1 d 3 h; the seventh, 3 d, is read as when the
#: call is discarded).
RETRIES = (
    10 * _MINUTE,
    35 * _MINUTE,
    1 * _HOUR + 30 * _MINUTE,
    4 * _HOUR + 20 * _MINUTE,
    10 * _HOUR + 30 * _MINUTE,
    1 * _DAY + 3 * _HOUR,
)


#: Subscribers a mass unsubscribe removes at once; more start an async job (the service says only
#: "relatively low"; the number is the sandbox's).
AT_ONCE = 1000
#: The kind of a mass unsubscribe's async job (the service's word is not documented).
UNSUBSCRIBE = "list-unsubscribe"


def csv_for(kind: str, source_id: str) -> bytes:
    """The CSV the sandbox serves for an export of ``kind`` of the newsletter or segment
    ``source_id`` (deterministic, so tests can check exact bytes)."""
    if kind == "newsletter-emails":
        rows = [
            "email,sentAt,openedAt,clickedAt",
            f"ann+{source_id}@example.com,2017-01-03T16:32:27.741Z,2017-01-03T17:00:00.000Z,",
            f"bob+{source_id}@example.com,2017-01-03T16:32:28.102Z,,",
        ]
    elif kind == "segments-export":
        rows = [
            "email,firstName,lastName",
            f"ann+{source_id}@example.com,Ann,Archer",
            f"bob+{source_id}@example.com,Bob,Baker",
        ]
    else:
        rows = ["email", f"ann+{source_id}@example.com", f"bob+{source_id}@example.com"]
    return ("\n".join(rows) + "\n").encode()


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return (
        datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
    )


class ConversioSandbox(SandboxApp):
    """Conversio's async jobs on 127.0.0.1.

    Args:
        scale: sandbox time runs this many times faster than the wall clock.
        keys: API key -> shop name; each shop sees only its own jobs.
        newsletters, segments: the ids that exist (ids containing "fail" make a failing export).
        customer_lists: list id -> how many subscribers a segment removes from it: up to
            :data:`AT_ONCE` are removed at once (200), more start an async job (202).
        start_after, duration: sandbox seconds from creation to start, and to the end (override
            :meth:`job_duration` to give each job its own ``duration``).
        webhook: an endpoint set in the shop's settings (on 127.0.0.1 or localhost), called with
            ``async-job/completed`` when each job of any shop ends; ``None`` for none.
        webhook_retries: sandbox seconds after a failed call's first attempt at which it is
            retried (:data:`RETRIES`, as the service does).
    """

    provider = "conversio"
    fails_on_demand = True
    url_map = Map(
        [
            Rule(
                f"{API}/newsletters/<source>/recipients/async-export",
                methods=["POST"],
                endpoint="create",
                defaults={"kind": "newsletter-recipients"},
            ),
            Rule(
                f"{API}/newsletters/<source>/emails/async-export",
                methods=["POST"],
                endpoint="create",
                defaults={"kind": "newsletter-emails"},
            ),
            Rule(
                f"{API}/segments/<source>/async-export",
                methods=["POST"],
                endpoint="create",
                defaults={"kind": "segments-export"},
            ),
            # the vendor's page names the route .../subscribers, its examples .../subscriptions
            Rule(
                f"{API}/customer-lists/<list_id>/subscribers",
                methods=["DELETE"],
                endpoint="unsubscribe",
            ),
            Rule(
                f"{API}/customer-lists/<list_id>/subscriptions",
                methods=["DELETE"],
                endpoint="unsubscribe",
            ),
            Rule(f"{API}/webhooks", methods=["GET"], endpoint="list_webhooks"),
            Rule(f"{API}/webhooks", methods=["POST"], endpoint="create_webhook"),
            Rule(f"{API}/webhooks/<hook_id>", methods=["GET"], endpoint="get_webhook"),
            Rule(f"{API}/webhooks/<hook_id>", methods=["DELETE"], endpoint="delete_webhook"),
            Rule(f"{API}/async-jobs", methods=["GET"], endpoint="list_jobs"),
            Rule(f"{API}/async-jobs/<job_id>", methods=["GET"], endpoint="get_job"),
            Rule("/async-jobs/<job_id>.csv", methods=["GET"], endpoint="csv"),
        ]
    )

    def __init__(
        self,
        *,
        scale: float = 1.0,
        keys: dict[str, str] | None = None,
        newsletters: Iterable[str] = ("n1", "n-fail"),
        segments: Iterable[str] = ("s1", "s-fail"),
        customer_lists: Mapping[str, int] | None = None,
        start_after: float = 2.0,
        duration: float = 60.0,
        webhook: str | None = None,
        webhook_retries: Iterable[float] = RETRIES,
        **kwargs: Any,
    ) -> None:
        super().__init__(scale=scale, **kwargs)
        self.keys = dict(keys or {"conversio-sandbox-key": "shop-1"})
        self.newsletters = tuple(newsletters)  # ordered: the CLI demo exports the first one
        self.segments = tuple(segments)
        self.customer_lists = dict(
            customer_lists if customer_lists is not None else {"l1": 3, "l-big": 5000}
        )
        self.start_after = start_after
        self.duration = duration
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self.webhook = webhook
        self.webhook_retries = tuple(webhook_retries)
        #: the webhooks registered through the API: id -> {"id", "topic", "endpoint", "shop"}
        self.subscriptions: dict[str, dict[str, str]] = {}

    @property
    def webhook(self) -> str | None:
        """The account's webhook URL (set it as a shop owner sets it in Conversio's settings)."""
        return self._webhook

    @webhook.setter
    def webhook(self, url: str | None) -> None:
        if url is not None and not _loopback(url):
            raise ValueError("the sandbox calls webhooks on 127.0.0.1 or localhost only")
        self._webhook = url

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The first key's settings, with the API under ``base_url + "/api/v1"``."""
        return {"api_key": next(iter(self.keys)), "base_url": base_url + API}

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: an export of a newsletter."""
        return client.submit("newsletter-recipients", newsletter=next(iter(self.newsletters)))

    def job_duration(self, kind: str, source: str) -> float:
        """Sandbox seconds a new job runs after it starts (``duration`` unless a subclass says
        otherwise; called under the sandbox's lock, once per job, in the order jobs are created)."""
        return self.duration

    def rate_limit(
        self, times: int = 1, *, retry_after: int | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``times`` requests with 429 (with ``Retry-After`` when given)."""
        self.rate_limit_next(times, retry_after=retry_after, path=path)

    def rate_limited_body(self) -> dict[str, Any]:
        """Conversio's error shape, for :meth:`rate_limit_next`."""
        return {"errors": ["Rate limit exceeded"]}

    # -- plumbing ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        """Check ``Accept`` on API routes and the key everywhere, then route."""
        accept = request.accept_mimetypes
        if request.path.startswith(API + "/") and accept and not accept["application/json"]:
            # 406 only when Accept excludes JSON: */* and no header at all are accepted, as in the
            # vendor's later examples (which send no Accept)
            return _errors(406, "Only application/json responses are available")
        if request.headers.get("X-ApiKey") not in self.keys:
            return _errors(401, "Invalid API key")
        return super().dispatch(request)

    def http_error(self, exc: HTTPException) -> Response:
        """Unknown routes and wrong methods, in Conversio's error shape."""
        return _errors(exc.code or 500, exc.name)

    def _shop(self, request: Request) -> str:
        return self.keys[request.headers["X-ApiKey"]]

    def _view(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job as the wire shows it now, or None once it has been removed."""
        now, created = self.clock.now(), job["created"]
        body: dict[str, Any] = {
            "id": job["id"],
            "kind": job["kind"],
            "status": "pending",
            "startedAt": None,
            "completedAt": None,
        }
        if now >= created + self.start_after:
            body["startedAt"] = _iso(self.clock.wall(created + self.start_after))
        end = created + self.start_after + job["duration"]
        if now >= end + WEEK:
            return None
        if now >= end:
            body["completedAt"] = _iso(self.clock.wall(end))
            if "fail" in job["source"] or job.get("fail"):
                body.update(status="failed", error=f"Export of {job['source']} failed on purpose")
            elif job["kind"] == UNSUBSCRIBE:  # the counts, as the 200 answer gives them (the
                # service documents no result for this kind: the sandbox's choice)
                count = self.customer_lists.get(job["source"], 0)
                body.update(status="done", result=json.dumps({"unsubscribed": count, "failed": 0}))
            else:
                body.update(status="done", result=f"{job['host']}async-jobs/{job['id']}.csv")
        return body

    def _own(self, request: Request, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        if job is None or job["shop"] != self._shop(request):
            return None
        return job

    # -- endpoints --------------------------------------------------------------------------------

    def create(self, request: Request, kind: str, source: str) -> Response:
        """The three export endpoints: 201 with a pending job, 404 for an unknown id."""
        known, what = (
            (self.segments, "Segment")
            if kind == "segments-export"
            else (self.newsletters, "Newsletter")
        )
        if source not in known:
            return _errors(404, f"{what} {source} not found")
        job_id = self._new_job(request, kind, source)
        return json_response({"data": {"id": job_id, "kind": kind, "status": "pending"}}, 201)

    def unsubscribe(self, request: Request, list_id: str) -> Response:
        """``DELETE /customer-lists/{id}/subscribers``: ``emails`` removed at once; a ``segment``
        (a Customer Segment's JSON) removed at once when it holds up to :data:`AT_ONCE`
        subscribers (200 with the counts), else by an async job (202 ``{"asyncJobId"}``)."""
        if list_id not in self.customer_lists:
            return _errors(404, f"Customer list {list_id} not found")
        emails = request.args.getlist("emails")
        if emails:
            return json_response(
                {"data": {"unsubscribed": len(emails), "failed": 0, "failedReasons": []}}
            )
        try:
            segment = json.loads(request.args.get("segment") or "null")
        except ValueError:
            segment = None
        if not isinstance(segment, dict) or not segment:
            return _errors(400, "No segment provided")
        count = self.customer_lists[list_id]
        if count <= AT_ONCE:
            return json_response(
                {"data": {"unsubscribed": count, "failed": 0, "failedReasons": []}}
            )
        job_id = self._new_job(request, UNSUBSCRIBE, list_id)
        return json_response({"data": {"asyncJobId": job_id}}, 202)

    def _new_job(self, request: Request, kind: str, source: str) -> str:
        """Record a new pending job of ``kind`` on ``source`` and schedule its webhook calls."""
        with self._lock:
            job_id = f"{0x57B5AA3B046ABFB053D80000 + next(self._ids):024x}"
            self.jobs[job_id] = {
                "id": job_id,
                "kind": kind,
                "source": source,
                "shop": self._shop(request),
                "created": self.clock.now(),
                "host": request.host_url,
                "duration": self.job_duration(kind, source),
                "fail": self.take_failure(),  # fail_next(): as a source named "fail" does
            }
            shop = self.jobs[job_id]["shop"]
            endpoints = [self.webhook] if self.webhook else []
            endpoints += [
                hook["endpoint"]
                for hook in self.subscriptions.values()
                if hook["shop"] == shop and hook["topic"] == "async-job/completed"
            ]
            for url in dict.fromkeys(endpoints):
                self._call_webhook(self.jobs[job_id], url, request.headers["X-ApiKey"])
        return job_id

    def _call_webhook(self, job: dict[str, Any], url: str, api_key: str) -> None:
        """Schedule the ``async-job/completed`` call of ``job``, for when it ends, signed with
        the shop's ``api_key`` at each attempt, and retried as the service does."""
        end = job["created"] + self.start_after + job["duration"]
        view = self._view({**job, "created": job["created"] - self.start_after - job["duration"]})
        assert view is not None  # the job as it will be at its end
        data = {
            "asyncJobId": job["id"],
            "userId": job["shop"],
            "kind": job["kind"],
            "status": view["status"],
            "startedAt": _iso(self.clock.wall(job["created"] + self.start_after)),
            "completedAt": _iso(self.clock.wall(end)),
        }
        data.update({k: view[k] for k in ("result", "error") if k in view})
        ts = round(self.clock.wall(end) * 1000)  # when first sent, in integer milliseconds
        body = {"meta": {"topic": "async-job/completed", "ts": ts}, "data": data}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        after = self.clock.real(end - self.clock.now())
        self.webhooks.schedule(
            after,
            "POST",
            url,
            json.dumps(body).encode(),
            headers,
            sign=lambda: {"Authorization": f"Bearer {sign(api_key)}"},
            retries=[self.clock.real(t) for t in self.webhook_retries],
        )

    # -- the shop's webhooks ------------------------------------------------------------------------

    def _hooks(self, request: Request) -> list[dict[str, str]]:
        shop = self._shop(request)
        return [h for h in self.subscriptions.values() if h["shop"] == shop]

    def list_webhooks(self, request: Request) -> Response:
        """``{"data": [webhook, ...]}``: the shop's webhooks."""
        with self._lock:
            return json_response({"data": [_public(h) for h in self._hooks(request)]})

    def create_webhook(self, request: Request) -> Response:
        """``POST /webhooks`` ``{"topic", "endpoint"}``: 201 with the webhook; 400 for a topic it
        does not know, an endpoint that is not a URI (here: on 127.0.0.1 or localhost), or a
        topic and endpoint the shop has already."""
        body = request.get_json(silent=True)
        topic = body.get("topic") if isinstance(body, dict) else None
        endpoint = body.get("endpoint") if isinstance(body, dict) else None
        if topic not in TOPICS:
            return _errors(400, "The chosen topic is invalid")
        if not isinstance(endpoint, str) or not _loopback(endpoint):
            return _errors(400, "The endpoint must be a URI (the sandbox calls 127.0.0.1 only)")
        with self._lock:
            if any(h["topic"] == topic and h["endpoint"] == endpoint for h in self._hooks(request)):
                return _errors(400, "A Webhook for that endpoint and topic already exists")
            hook_id = uuid.uuid4().hex[:24]
            hook = {"id": hook_id, "topic": topic, "endpoint": endpoint}
            self.subscriptions[hook_id] = {**hook, "shop": self._shop(request)}
        return json_response({"data": hook}, 201)

    def get_webhook(self, request: Request, hook_id: str) -> Response:
        """``{"data": webhook}``, or 404 for an unknown or another shop's webhook."""
        with self._lock:
            hook = self.subscriptions.get(hook_id)
            if hook is None or hook["shop"] != self._shop(request):
                return _errors(404, "Webhook not found")
            return json_response({"data": _public(hook)})

    def delete_webhook(self, request: Request, hook_id: str) -> Response:
        """204, or 404 for an unknown or another shop's webhook."""
        with self._lock:
            hook = self.subscriptions.get(hook_id)
            if hook is None or hook["shop"] != self._shop(request):
                return _errors(404, "Webhook not found")
            del self.subscriptions[hook_id]
        return Response(status=204)

    def list_jobs(self, request: Request) -> Response:
        """``{"data": [...]}``: the shop's jobs that have not been removed."""
        with self._lock:
            jobs = [j for j in self.jobs.values() if j["shop"] == self._shop(request)]
            views = [v for v in map(self._view, jobs) if v is not None]
        return json_response({"data": views})

    def get_job(self, request: Request, job_id: str) -> Response:
        """``{"data": job}``, or 404 for an unknown, another shop's, or removed job."""
        with self._lock:
            job = self._own(request, job_id)
            view = self._view(job) if job is not None else None
        if view is None:
            return _errors(404, "Async Job not found")
        return json_response({"data": view})

    def csv(self, request: Request, job_id: str) -> Response:
        """The CSV of a done export (404 otherwise)."""
        with self._lock:
            job = self._own(request, job_id)
            view = self._view(job) if job is not None else None
        if job is None or view is None or view["status"] != "done":
            return _errors(404, "File not found")
        return Response(csv_for(job["kind"], job["source"]), mimetype="text/csv")


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


def _public(hook: dict[str, str]) -> dict[str, str]:
    return {k: hook[k] for k in ("id", "topic", "endpoint")}


def _errors(status: int, *messages: str) -> Response:
    return json_response({"errors": list(messages)}, status)
