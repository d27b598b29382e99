"""A toy provider and its sandbox, for testing the core (not shipped).

The toy service upper-cases text: ``POST /jobs`` ``{"text", "duration"}`` starts a job, ``GET /jobs/{id}``
tells its ``state`` (queued, running, ok, error), ``GET /jobs/{id}/output`` serves the result,
``DELETE /jobs/{id}`` cancels, ``GET /jobs`` lists. Auth: ``X-Toy-Key``. Text containing "fail" fails.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs import (
    Capabilities,
    JobInfo,
    Kind,
    Param,
    PollPolicy,
    Provider,
    Result,
    ResultFile,
    Setting,
    Status,
)
from asyncjobs._http import HeaderAuth
from asyncjobs.sandbox import SandboxApp, json_response

_STATES = {
    "queued": Status.PENDING,
    "running": Status.PENDING,
    "ok": Status.DONE,
    "error": Status.FAILED,
}


class ToyProvider(Provider):
    name = "toy"
    kinds = (Kind("upper", (Param("text", required=True), Param("duration"))),)
    capabilities = Capabilities(
        cancel=True,
        list=True,
        poll=PollPolicy(initial=0.02, factor=1.5, cap=0.1, min_interval=0.01),
        job_lifetime=timedelta(hours=1),
    )
    settings = (
        Setting("key", env="TOY_KEY", required=True, secret=True),
        Setting("base_url", url=True, env="TOY_BASE_URL", required=True),
    )
    sandbox = "toy_provider:ToySandbox"

    def auth(self) -> requests.auth.AuthBase:
        return HeaderAuth("X-Toy-Key", self.config["key"])

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(params["text"], str):
            from asyncjobs.errors import InvalidParameterError

            raise InvalidParameterError("text must be a string", parameter="text")
        return params

    def _info(self, body: Mapping[str, Any]) -> JobInfo:
        return JobInfo(
            provider=self.name,
            id=body["id"],
            kind="upper",
            status=_STATES.get(body["state"], Status.PENDING),
            raw_status=body["state"],
            error=body.get("message"),
            submitted_at=datetime.fromtimestamp(body["created"], timezone.utc),
        )

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        body = {"text": params["text"], "duration": params.get("duration", 0.05)}
        return self._info(self.request("POST", "/jobs", json=body).json())

    def status(self, job_id: str) -> JobInfo:
        return self._info(self.request("GET", f"/jobs/{job_id}", job_id=job_id).json())

    def result(self, job_id: str) -> Result:
        url = f"{self.config['base_url']}/jobs/{job_id}/output"
        return Result(files=(ResultFile("output.txt", url=url, media_type="text/plain"),))

    def cancel(self, job_id: str) -> None:
        self.request("DELETE", f"/jobs/{job_id}", job_id=job_id)

    def list(self) -> Iterable[JobInfo]:
        return [self._info(b) for b in self.request("GET", "/jobs").json()["jobs"]]


class ToySandbox(SandboxApp):
    provider = "toy"
    url_map = Map(
        [
            Rule("/jobs", endpoint="create", methods=["POST"]),
            Rule("/jobs", endpoint="list_jobs", methods=["GET"]),
            Rule("/jobs/<job_id>", endpoint="get", methods=["GET"]),
            Rule("/jobs/<job_id>", endpoint="delete", methods=["DELETE"]),
            Rule("/jobs/<job_id>/output", endpoint="output", methods=["GET"]),
        ]
    )
    key = "toy-key-canary-0123456789"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._jobs_lock = threading.Lock()
        #: when each request came (wall clock), and the most answered at once
        self.arrivals: list[float] = []
        self.most_at_once = 0
        self._at_once = 0

    def client_settings(self, base_url: str) -> dict[str, str]:
        return {"key": self.key, "base_url": base_url}

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        with self._jobs_lock:
            self.arrivals.append(time.time())
            self._at_once += 1
            self.most_at_once = max(self.most_at_once, self._at_once)
        try:
            return super().__call__(environ, start_response)
        finally:
            with self._jobs_lock:
                self._at_once -= 1

    def dispatch(self, request: Request) -> Response:
        if request.headers.get("X-Toy-Key") != self.key:
            return json_response({"code": "auth", "message": "bad key"}, 401)
        return super().dispatch(request)

    def _view(self, job: dict[str, Any]) -> dict[str, Any]:
        elapsed = self.clock.now() - job["created"]
        if job["state"] in ("queued", "running"):
            if elapsed >= job["duration"]:
                job["state"] = "error" if "fail" in job["text"] else "ok"
                if job["state"] == "error":
                    job["message"] = "the text asked to fail"
            elif elapsed > 0:
                job["state"] = "running"
        return {k: job[k] for k in ("id", "state", "created") if k in job} | (
            {"message": job["message"]} if "message" in job else {}
        )

    def create(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        with self._jobs_lock:
            job_id = f"t{next(self._ids)}"
            self.jobs[job_id] = {
                "id": job_id,
                "text": body.get("text", ""),
                "state": "queued",
                "duration": float(body.get("duration", 0)),
                "created": self.clock.now(),
            }
            return json_response(self._view(self.jobs[job_id]), 201)

    def get(self, request: Request, job_id: str) -> Response:
        with self._jobs_lock:
            if job_id not in self.jobs:
                return json_response({"code": "not_found", "message": f"no job {job_id}"}, 404)
            return json_response(self._view(self.jobs[job_id]))

    def list_jobs(self, request: Request) -> Response:
        with self._jobs_lock:
            return json_response({"jobs": [self._view(j) for j in self.jobs.values()]})

    def delete(self, request: Request, job_id: str) -> Response:
        with self._jobs_lock:
            if self.jobs.pop(job_id, None) is None:
                return json_response({"code": "not_found", "message": f"no job {job_id}"}, 404)
        return Response(status=204)

    def output(self, request: Request, job_id: str) -> Response:
        with self._jobs_lock:
            job = self.jobs.get(job_id)
            if job is None or self._view(job)["state"] != "ok":
                return json_response({"code": "not_ready", "message": "no output"}, 404)
            return Response(job["text"].upper().encode(), mimetype="text/plain")
