"""A local emulator of the Echo service, for tests, demos and notebooks.

A job is ``queued`` for ``queue_seconds`` sandbox seconds, then ``running`` until ``duration`` has
passed, then ``finished`` -- or ``failed`` when its text contains "fail". ``DELETE`` cancels a job that
has not finished. Each token is an account that sees only its own jobs; a wrong token gets 401, an
unknown job 404, a bad body 400, all as ``{"error": code, "detail": message}``.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs.sandbox import SandboxApp, json_response

__all__ = ["EchoSandbox"]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat().replace("+00:00", "Z")


def _error(status: int, code: str, detail: str) -> Response:
    return json_response({"error": code, "detail": detail}, status)


class EchoSandbox(SandboxApp):
    """The Echo service on 127.0.0.1.

    Args:
        scale: sandbox time runs this many times faster than the wall clock.
        tokens: token -> account; each account sees only its own jobs.
        queue_seconds: sandbox seconds a job waits before it runs.
        duration: sandbox seconds from creation to the end.
    """

    provider = "echo"
    url_map = Map(
        [
            Rule("/jobs", methods=["POST"], endpoint="create"),
            Rule("/jobs", methods=["GET"], endpoint="list_jobs"),
            Rule("/jobs/<job_id>", methods=["GET"], endpoint="get_job"),
            Rule("/jobs/<job_id>", methods=["DELETE"], endpoint="delete_job"),
            Rule("/jobs/<job_id>/output", methods=["GET"], endpoint="output"),
        ]
    )

    def __init__(
        self,
        *,
        scale: float = 1.0,
        tokens: dict[str, str] | None = None,
        queue_seconds: float = 0.5,
        duration: float = 2.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(scale=scale, **kwargs)
        self.tokens = dict(tokens or {"echo-sandbox-token": "account-1"})
        self.queue_seconds = queue_seconds
        self.duration = duration
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The first token, and the service at ``base_url``."""
        return {"token": next(iter(self.tokens)), "base_url": base_url}

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: a job that shouts the demo's name."""
        return client.submit("shout", text="asyncjobs demo")

    # -- plumbing ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        """Check the token, then route."""
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[len("Bearer ") :] not in self.tokens:
            return _error(401, "unauthorized", "missing or wrong token")
        return super().dispatch(request)

    def http_error(self, exc: HTTPException) -> Response:
        """Unknown routes and wrong methods, in Echo's error shape."""
        return _error(exc.code or 500, "http", exc.name)

    def _account(self, request: Request) -> str:
        return self.tokens[request.headers["Authorization"][len("Bearer ") :]]

    def _own(self, request: Request, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job["account"] == self._account(request) else None

    def _view(self, job: dict[str, Any]) -> dict[str, Any]:
        now, created = self.clock.now(), job["created"]
        wall = self.clock.wall  # bodies show wall-clock times; the scale shortens durations only
        body: dict[str, Any] = {
            "id": job["id"],
            "state": "queued",
            "created_at": _iso(wall(created)),
        }
        end = created + self.duration
        if job.get("canceled") is not None:
            body.update(state="canceled", finished_at=_iso(wall(job["canceled"])))
            body["message"] = "canceled on request"
        elif now >= end and "fail" in job["text"]:
            body.update(
                state="failed", finished_at=_iso(wall(end)), message="the text asked to fail"
            )
        elif now >= end:
            body.update(
                state="finished",
                finished_at=_iso(wall(end)),
                output_size=len(job["output"]),
                credits=1 + len(job["output"]) // 1000,
            )
        elif now >= created + self.queue_seconds:
            body["state"] = "running"
        return body

    # -- endpoints --------------------------------------------------------------------------------

    def create(self, request: Request) -> Response:
        """``POST /jobs`` ``{"text"}``: 201 with a queued job."""
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return _error(400, "bad_request", 'the body must be {"text": "..."}')
        with self._lock:
            job_id = f"echo-{next(self._ids):06d}"
            self.jobs[job_id] = {
                "id": job_id,
                "text": text,
                "output": text.upper().encode(),
                "account": self._account(request),
                "created": self.clock.now(),
                "canceled": None,
            }
            view = self._view(self.jobs[job_id])
        return json_response(view, 201)

    def list_jobs(self, request: Request) -> Response:
        """``{"jobs": [...]}``: the account's jobs."""
        with self._lock:
            account = self._account(request)
            views = [self._view(j) for j in self.jobs.values() if j["account"] == account]
        return json_response({"jobs": views})

    def get_job(self, request: Request, job_id: str) -> Response:
        """One job, or 404."""
        with self._lock:
            job = self._own(request, job_id)
            view = self._view(job) if job is not None else None
        if view is None:
            return _error(404, "not_found", f"no job {job_id}")
        return json_response(view)

    def delete_job(self, request: Request, job_id: str) -> Response:
        """Cancel a job: 204, or 409 once it has finished."""
        with self._lock:
            job = self._own(request, job_id)
            if job is None:
                return _error(404, "not_found", f"no job {job_id}")
            if self._view(job)["state"] in ("finished", "failed"):
                return _error(409, "finished", f"job {job_id} has already finished")
            if job["canceled"] is None:
                job["canceled"] = self.clock.now()
        return Response(status=204)

    def output(self, request: Request, job_id: str) -> Response:
        """A finished job's text (404 for unknown jobs, 409 before it has finished)."""
        with self._lock:
            job = self._own(request, job_id)
            view = self._view(job) if job is not None else None
        if job is None or view is None:
            return _error(404, "not_found", f"no job {job_id}")
        if view["state"] != "finished":
            return _error(409, "not_finished", f"job {job_id} is {view['state']}")
        return Response(job["output"], mimetype="text/plain")
