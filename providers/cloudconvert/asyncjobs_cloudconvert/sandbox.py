"""A local emulator of CloudConvert API v2, on a time scale (see ``docs/providers/cloudconvert.md``).

Routes (the API under ``/v2``, as ``https://api.cloudconvert.com/v2``): ``POST /v2/jobs``, ``GET
/v2/jobs`` (``filter[status]``, ``filter[tag]``, ``include``, ``per_page``, ``page``; ``links`` and
``meta``), ``GET``/``DELETE /v2/jobs/{id}``, ``GET``/``DELETE /v2/tasks/{id}``, ``POST
/v2/tasks/{id}/cancel``, ``POST /v2/import/url`` and ``/v2/import/upload`` (tasks of their own),
``GET /v2/users/me``, ``GET /v2/convert/formats``; the synchronous API (``sync.api`` on the
service) under ``/sync/v2/jobs/{id}`` and ``/sync/v2/tasks/{id}``; the upload form's target
``POST /upload/{task}`` (another origin on the service: it takes no API key) and the export
files ``GET /storage/{token}/{name}`` (signed URLs: no key either).

Tasks: ``import/upload``, ``import/url`` (the URL is never fetched: its content is the URL's
bytes), ``convert`` and ``export/url``; other operations are refused with 422. A conversion takes
``duration`` sandbox seconds and makes :func:`expected_output` of its input; a file whose name
contains ``corrupt`` fails it. Per-job ``webhook_url`` calls are signed with ``signing_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs.sandbox import SandboxApp, json_response

from .provider import SIGNATURE_HEADER, _formats, sign_webhook

__all__ = ["CloudConvertSandbox", "expected_output"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_OPERATIONS = ("import/upload", "import/url", "convert", "export/url")
_FAILS = ("corrupt", "CONVERSION_FAILED", "The file is damaged and cannot be converted.")
_MAX_FILE = 1024 * 1024 * 1024
#: How long the synchronous API holds a request for a job or task to end (wall seconds).
SYNC_WAIT = 30.0


def expected_output(src: str, dst: str, data: bytes) -> bytes:
    """The bytes the sandbox makes converting ``data`` from ``src`` to ``dst``."""
    digest = hashlib.sha256(data).hexdigest()
    return f"%asyncjobs cloudconvert sandbox: {src} -> {dst}\n{digest}\n".encode()


def _stamp_of(when: float | None, box: CloudConvertSandbox) -> str | None:
    if when is None:
        return None
    return box.clock.stamp(when).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _error(status: int, code: str, message: str, errors: Any = None) -> Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


def _invalid(errors: dict[str, list[str]]) -> Response:
    return _error(422, "INVALID_DATA", "The given data was invalid.", errors)


@attrs.define
class _File:
    name: str
    data: bytes
    token: str = attrs.field(factory=lambda: secrets.token_urlsafe(16))


@attrs.define
class _Task:
    id: str
    name: str | None
    operation: str
    payload: dict[str, Any]
    created: float
    inputs: list[str]  # ids of input tasks
    job: str  # the id of the job holding it (a hidden job for a task made on its own)
    uploaded: float | None = None
    upload: _File | None = None
    cancelled: float | None = None
    form_expires: int = 0


@attrs.define
class _Job:
    id: str
    tag: str | None
    created: float
    tasks: list[_Task]
    webhook_url: str | None = None
    hidden: bool = False  # holds a task created on its own (job_id null)
    fail: bool = False  # fail_next(): its conversions fail as a corrupt file's do
    webhook_scheduled: bool = False


@attrs.frozen
class _State:
    status: str
    started: float | None = None
    ended: float | None = None
    code: str | None = None
    message: str | None = None
    credits: int | None = None
    files: tuple[_File, ...] = ()


class CloudConvertSandbox(SandboxApp):
    """The CloudConvert API v2 emulator. ``secret`` is the API key it takes, ``signing_secret``
    the webhook signing secret, ``duration`` the sandbox seconds a conversion takes, ``credits``
    the account's conversion credits (402 ``CREDITS_EXCEEDED`` when used up)."""

    provider = "cloudconvert"
    fails_on_demand = True
    url_map = Map(
        [
            Rule("/v2/jobs", endpoint="create_job", methods=["POST"]),
            Rule("/v2/jobs", endpoint="list_jobs", methods=["GET"]),
            Rule("/v2/jobs/<job_id>", endpoint="show_job", methods=["GET"]),
            Rule("/v2/jobs/<job_id>", endpoint="delete_job", methods=["DELETE"]),
            Rule("/v2/tasks/<task_id>", endpoint="show_task", methods=["GET"]),
            Rule("/v2/tasks/<task_id>", endpoint="delete_task", methods=["DELETE"]),
            Rule("/v2/tasks/<task_id>/cancel", endpoint="cancel_task", methods=["POST"]),
            Rule("/v2/import/url", endpoint="create_url_task", methods=["POST"]),
            Rule("/v2/import/upload", endpoint="create_upload_task", methods=["POST"]),
            Rule("/v2/users/me", endpoint="me", methods=["GET"]),
            Rule("/v2/convert/formats", endpoint="formats", methods=["GET"]),
            Rule("/sync/v2/jobs/<job_id>", endpoint="wait_job", methods=["GET"]),
            Rule("/sync/v2/tasks/<task_id>", endpoint="wait_task", methods=["GET"]),
            Rule("/upload/<task_id>", endpoint="upload", methods=["POST"]),
            Rule("/storage/<token>/<path:name>", endpoint="download", methods=["GET"]),
        ]
    )

    def __init__(
        self,
        *,
        scale: float = 1.0,
        secret: str = "cloudconvert-sandbox-api-key",
        signing_secret: str = "cloudconvert-sandbox-signing-secret",
        duration: float = 2.0,
        credits: int = 1_000_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(scale=scale, **kwargs)
        self.secret = secret
        self.signing_secret = signing_secret
        self.duration = duration
        self.credits = credits
        self.jobs: dict[str, _Job] = {}
        self.tasks: dict[str, _Task] = {}
        self.files: dict[str, _File] = {}
        #: the headers of every upload to a form, for tests (the API key must never be among them)
        self.upload_headers: list[dict[str, str]] = []
        self.base = ""  # the URL this sandbox is served at, learnt from each request

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The settings connecting a CloudConvert client to this sandbox at ``base_url``."""
        return {
            "secret": self.secret,
            "base_url": base_url.rstrip("/") + "/v2",
            "webhook_secret": self.signing_secret,
        }

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: the sample .docx to PDF."""
        return client.submit("convert", source=sample, to="pdf")

    # -- plumbing ---------------------------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        """The API key on every API route (not on the upload form and the storage), then route."""
        self.base = request.host_url.rstrip("/")
        if request.path.startswith(("/v2/", "/sync/")):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(token.encode(), self.secret.encode()):
                return _error(401, "UNAUTHENTICATED", "Unauthenticated.")
        return super().dispatch(request)

    def http_error(self, exc: HTTPException) -> Response:
        """Unknown routes and methods, in the service's error shape."""
        status = exc.code or 500
        code = "NOT_FOUND" if status == 404 else "METHOD_NOT_ALLOWED" if status == 405 else "ERROR"
        return _error(status, code, exc.description or "Not found.")

    def _json(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(request.get_data() or b"{}")
        except (ValueError, RecursionError):
            return _error(400, "INVALID_JSON", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _invalid({"body": ["The body must be a JSON object."]})
        return body

    # -- creating jobs and tasks ------------------------------------------------------------------

    def create_job(self, request: Request) -> Response:
        """``POST /v2/jobs``: ``{"tasks": {name: {operation, ...}}, "tag", "webhook_url"}``."""
        body = self._json(request)
        if isinstance(body, Response):
            return body
        tasks = body.get("tasks")
        errors: dict[str, list[str]] = {}
        if not isinstance(tasks, dict) or not tasks:
            return _invalid({"tasks": ["The tasks field is required."]})
        tag = body.get("tag")
        if tag is not None and not isinstance(tag, str):
            errors["tag"] = ["The tag must be a string."]
        hook = body.get("webhook_url")
        if hook is not None and not (
            isinstance(hook, str) and urlsplit(hook).scheme in ("http", "https")
        ):
            errors["webhook_url"] = ["The webhook url format is invalid."]
        for name, task in tasks.items():
            errors.update(self._check_task(f"tasks.{name}", task, set(tasks), named=str(name)))
        if errors:
            return _invalid(errors)
        if self.credits <= 0 and any(t.get("operation") == "convert" for t in tasks.values()):
            return _error(402, "CREDITS_EXCEEDED", "Your account has run out of conversion minutes")
        now = self.clock.now()
        job = _Job(str(uuid.uuid4()), tag, now, [], webhook_url=hook, fail=self.take_failure())
        ids = {name: str(uuid.uuid4()) for name in tasks}
        for name, task in tasks.items():
            inputs = task.get("input") or []
            inputs = [inputs] if isinstance(inputs, str) else list(inputs)
            job.tasks.append(
                self._new_task(ids[name], name, task, now, [ids[i] for i in inputs], job.id)
            )
        with self._lock:
            self.jobs[job.id] = job
            for task_ in job.tasks:
                self.tasks[task_.id] = task_
        self._schedule_webhook(job)
        return json_response({"data": self._job_view(job, with_tasks=True)}, 201)

    def _check_task(
        self, where: str, task: Any, names: set[str], *, named: str | None = None
    ) -> dict[str, list[str]]:
        if named is not None and not _NAME.match(named):
            return {where: ["Task names may contain only letters, digits, - and _."]}
        if not isinstance(task, dict):
            return {where: ["A task must be an object."]}
        op = task.get("operation")
        if op not in _OPERATIONS:
            return {f"{where}.operation": [f"The operation {op!r} is not emulated by the sandbox."]}
        errors: dict[str, list[str]] = {}
        inputs = task.get("input")
        listed = [inputs] if isinstance(inputs, str) else inputs
        if op in ("convert", "export/url"):
            if not listed or not isinstance(listed, list):
                errors[f"{where}.input"] = ["The input field is required."]
            elif any(not isinstance(i, str) or i not in names or i == named for i in listed):
                errors[f"{where}.input"] = ["The input must name other tasks of the job."]
        if op == "import/url":
            url = task.get("url")
            if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
                errors[f"{where}.url"] = ["The url format is invalid."]
        if op == "convert":
            out = task.get("output_format")
            if not isinstance(out, str) or not out:
                errors[f"{where}.output_format"] = ["The output format field is required."]
            src = task.get("input_format")
            if isinstance(src, str) and isinstance(out, str) and not _formats().offers(src, out):
                errors[f"{where}.output_format"] = [f"Converting {src} to {out} is not supported."]
        return errors

    def _new_task(
        self, task_id: str, name: str | None, payload: dict[str, Any], now: float,
        inputs: list[str], job_id: str,
    ) -> _Task:  # fmt: skip
        task = _Task(task_id, name, str(payload["operation"]), dict(payload), now, inputs, job_id)
        if task.operation == "import/upload":
            task.form_expires = int(self.clock.wall(now)) + 24 * 3600
        return task

    def _standalone(self, request: Request, operation: str) -> Response:
        body = self._json(request)
        if isinstance(body, Response):
            return body
        payload = {**body, "operation": operation}
        errors = self._check_task("task", payload, set())
        if errors:
            return _invalid({k.removeprefix("task."): v for k, v in errors.items()})
        now = self.clock.now()
        job = _Job(str(uuid.uuid4()), None, now, [], hidden=True)
        task = self._new_task(str(uuid.uuid4()), None, payload, now, [], job.id)
        job.tasks.append(task)
        with self._lock:
            self.jobs[job.id] = job
            self.tasks[task.id] = task
        return json_response({"data": self._task_view(task)}, 201)

    def create_url_task(self, request: Request) -> Response:
        """``POST /v2/import/url``: an import task of its own (``job_id`` null)."""
        return self._standalone(request, "import/url")

    def create_upload_task(self, request: Request) -> Response:
        """``POST /v2/import/upload``: an upload task of its own, with its form."""
        return self._standalone(request, "import/upload")

    # -- the state of tasks and jobs, computed from sandbox time ----------------------------------

    def _states(self, job: _Job, now: float) -> dict[str, _State]:
        states: dict[str, _State] = {}

        def state(task: _Task, depth: int = 0) -> _State:
            if task.id in states:
                return states[task.id]
            found = self._state(task, now, [state(self.tasks[i], depth + 1) for i in task.inputs])
            states[task.id] = found
            return found

        for task in job.tasks:
            state(task)
        return states

    def _state(self, task: _Task, now: float, inputs: list[_State]) -> _State:
        ended = [s.ended for s in inputs if s.ended is not None]
        if task.operation == "import/upload":
            if task.uploaded is not None and task.upload is not None and task.uploaded <= now:
                return _State("finished", task.uploaded, task.uploaded, files=(task.upload,))
            if task.cancelled is not None:
                return self._cancelled(task)
            return _State("waiting")
        if task.operation == "import/url":
            url = str(task.payload["url"])
            name = str(task.payload.get("filename") or PurePosixPath(urlsplit(url).path).name)
            file = self._file(task.id, name or "file", url.encode())
            return _State("finished", task.created, task.created, files=(file,))
        if any(s.status == "error" for s in inputs):
            end = max(ended) if ended else now
            return _State("error", None, end, "INPUT_TASK_FAILED", "Input task has failed")
        if len(ended) < len(inputs):
            return self._cancelled(task) if task.cancelled is not None else _State("waiting")
        start = max(ended, default=task.created)
        if task.cancelled is not None and task.cancelled < start + self._length(task):
            return self._cancelled(task)
        if task.operation == "export/url":
            files = tuple(f for s in inputs for f in s.files)
            return _State("finished", start, start, credits=0, files=files)
        end = start + self.duration
        if now < end:
            return _State("processing", start)
        return self._converted(task, start, end, [f for s in inputs for f in s.files])

    def _length(self, task: _Task) -> float:
        return self.duration if task.operation == "convert" else 0.0

    def rate_limited_body(self) -> dict[str, Any]:
        """CloudConvert's error shape, for :meth:`rate_limit_next`."""
        return {"message": "Too Many Attempts.", "code": "TOO_MANY_REQUESTS"}

    def _cancelled(self, task: _Task) -> _State:
        return _State("error", None, task.cancelled, "CANCELLED", "The task has been cancelled.")

    def _converted(self, task: _Task, start: float, end: float, files: list[_File]) -> _State:
        out_format = str(task.payload["output_format"]).lower()
        made: list[_File] = []
        for file in files:
            src = str(task.payload.get("input_format") or PurePosixPath(file.name).suffix[1:])
            if not _formats().offers(src, out_format):
                message = f"Converting {src or 'files without an extension'} to {out_format} is not supported."
                return _State("error", start, end, "INVALID_CONVERSION_TYPE", message)
            job = self.jobs.get(task.job)
            if _FAILS[0] in file.name.lower() or (job is not None and job.fail):
                return _State("error", start, end, _FAILS[1], _FAILS[2])
            stem = PurePosixPath(file.name).stem or "file"
            name = str(task.payload.get("filename") or f"{stem}.{out_format}")
            data = expected_output(src.lower(), out_format, file.data)
            made.append(self._file(task.id + "/" + file.token, name, data))
        return _State("finished", start, end, credits=len(made), files=tuple(made))

    def _file(self, key: str, name: str, data: bytes) -> _File:
        """The one stored file of ``key`` (made once, so its URL stays the same)."""
        with self._lock:
            found = self.files.get(key)
            if found is None:
                found = self.files[key] = _File(PurePosixPath(name.replace("\\", "/")).name, data)
            return found

    def _job_status(self, job: _Job, states: dict[str, _State]) -> str:
        words = [states[t.id].status for t in job.tasks]
        if "error" in words:
            return "error"
        if all(w == "finished" for w in words):
            return "finished"
        return "processing" if any(w != "waiting" for w in words) else "waiting"

    def _ended(self, job: _Job, states: dict[str, _State]) -> float | None:
        if self._job_status(job, states) not in ("finished", "error"):
            return None
        if any(states[t.id].ended is None for t in job.tasks):
            if self._job_status(job, states) == "error":
                return max((s.ended for s in states.values() if s.ended is not None), default=None)
            return None
        return max(s.ended for s in states.values() if s.ended is not None)

    # -- views ------------------------------------------------------------------------------------

    def _task_view(self, task: _Task, states: dict[str, _State] | None = None) -> dict[str, Any]:
        job = self.jobs[task.job]
        state = (states or self._states(job, self.clock.now()))[task.id]
        result: dict[str, Any] | None = None
        if task.operation == "import/upload" and state.status == "waiting":
            result = {
                "form": {
                    "url": f"{self.base}/upload/{task.id}",
                    "parameters": {
                        "expires": task.form_expires,
                        "max_file_count": 1,
                        "max_file_size": _MAX_FILE,
                        "signature": self._form_signature(task),
                    },
                }
            }
        elif state.status == "finished":
            files = []
            for f in state.files:
                entry: dict[str, Any] = {"filename": f.name, "size": len(f.data)}
                if task.operation == "export/url":
                    entry["url"] = f"{self.base}/storage/{f.token}/{quote(f.name)}"
                files.append(entry)
            result = {"files": files}
        view: dict[str, Any] = {
            "id": task.id,
            "job_id": None if job.hidden else job.id,
            "operation": task.operation,
            "status": state.status,
            "message": state.message,
            "code": state.code,
            "credits": state.credits if state.status == "finished" else None,
            "percent": 100 if state.ended is not None else 0,
            "payload": task.payload,
            "result": result,
            "created_at": _stamp_of(task.created, self),
            "started_at": _stamp_of(state.started, self),
            "ended_at": _stamp_of(state.ended, self),
            "retry_of_task_id": None,
            "depends_on_task_ids": list(task.inputs),
            "links": {"self": f"{self.base}/v2/tasks/{task.id}"},
        }
        if task.name is not None:
            view = {"id": task.id, "name": task.name, **view}
        return view

    def _job_view(self, job: _Job, *, with_tasks: bool, now: float | None = None) -> dict[str, Any]:
        states = self._states(job, self.clock.now() if now is None else now)
        view: dict[str, Any] = {
            "id": job.id,
            "tag": job.tag,
            "status": self._job_status(job, states),
            "created_at": _stamp_of(job.created, self),
            "started_at": _stamp_of(
                min((s.started for s in states.values() if s.started is not None), default=None),
                self,
            ),
            "ended_at": _stamp_of(self._ended(job, states), self),
        }
        if with_tasks:
            view["tasks"] = [self._task_view(t, states) for t in job.tasks]
        view["links"] = {"self": f"{self.base}/v2/jobs/{job.id}"}
        return view

    def _visible_job(self, job_id: str) -> _Job | None:
        with self._lock:
            job = self.jobs.get(job_id)
        return None if job is None or job.hidden else job

    def _not_found(self, what: str) -> Response:
        return _error(404, "NOT_FOUND", f"{what} not found.")

    # -- jobs -------------------------------------------------------------------------------------

    def show_job(self, request: Request, job_id: str) -> Response:
        """``GET /v2/jobs/{id}``: the job with its tasks."""
        job = self._visible_job(job_id)
        if job is None:
            return self._not_found("Job")
        return json_response({"data": self._job_view(job, with_tasks=True)})

    def list_jobs(self, request: Request) -> Response:
        """``GET /v2/jobs``: newest first, filtered, paged (``per_page`` 1..100)."""
        args = request.args
        try:
            per_page = int(args.get("per_page", "100"))
            page = int(args.get("page", "1"))
        except ValueError:
            return _invalid({"per_page": ["The per page and page must be integers."]})
        if not 1 <= per_page <= 100 or page < 1:
            return _invalid({"per_page": ["The per page must be between 1 and 100."]})
        status, tag = args.get("filter[status]"), args.get("filter[tag]")
        with self._lock:
            jobs = [j for j in self.jobs.values() if not j.hidden]
        jobs.sort(key=lambda j: j.created, reverse=True)
        include = "tasks" in (args.get("include") or "").split(",")
        views = [self._job_view(j, with_tasks=include) for j in jobs]
        views = [
            v
            for v in views
            if (status is None or v["status"] == status) and (tag is None or v["tag"] == tag)
        ]
        start = (page - 1) * per_page
        chunk = views[start : start + per_page]
        path = f"{self.base}/v2/jobs"
        kept = {k: v for k, v in args.items() if k != "page"}

        def link(n: int) -> str:
            return path + "?" + urlencode({**kept, "page": n})

        more = start + per_page < len(views)
        return json_response(
            {
                "data": chunk,
                "links": {
                    "first": link(1),
                    "last": None,
                    "prev": link(page - 1) if page > 1 else None,
                    "next": link(page + 1) if more else None,
                },
                "meta": {
                    "current_page": page,
                    "from": start + 1 if chunk else None,
                    "path": path,
                    "per_page": per_page,
                    "to": start + len(chunk) if chunk else None,
                },
            }
        )

    def delete_job(self, request: Request, job_id: str) -> Response:
        """``DELETE /v2/jobs/{id}``: the job, its tasks and files are gone (204)."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.hidden:
                return self._not_found("Job")
            self._forget(job)
        return Response(status=204)

    def _forget(self, job: _Job) -> None:
        del self.jobs[job.id]
        for task in job.tasks:
            self.tasks.pop(task.id, None)
            for key in [k for k in self.files if k == task.id or k.startswith(task.id + "/")]:
                del self.files[key]

    # -- tasks ------------------------------------------------------------------------------------

    def show_task(self, request: Request, task_id: str) -> Response:
        """``GET /v2/tasks/{id}``."""
        with self._lock:
            task = self.tasks.get(task_id)
        if task is None:
            return self._not_found("Task")
        return json_response({"data": self._task_view(task)})

    def delete_task(self, request: Request, task_id: str) -> Response:
        """``DELETE /v2/tasks/{id}`` (204)."""
        with self._lock:
            task = self.tasks.pop(task_id, None)
            if task is None:
                return self._not_found("Task")
            job = self.jobs[task.job]
            if job.hidden:
                self.jobs.pop(job.id, None)
            else:
                job.tasks.remove(task)
        return Response(status=204)

    def cancel_task(self, request: Request, task_id: str) -> Response:
        """``POST /v2/tasks/{id}/cancel``: a waiting or processing task ends ``error``; an ended one
        is refused (400, the service's "task already completed")."""
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None:
                return self._not_found("Task")
            job = self.jobs[task.job]
            now = self.clock.now()
            if self._states(job, now)[task.id].ended is not None:
                return _error(
                    400,
                    "INVALID_DATA",
                    "The given data was invalid.",
                    {"status": ["Cannot change status: task already completed."]},
                )
            task.cancelled = now
        return json_response({"data": self._task_view(task)})

    # -- the synchronous API ----------------------------------------------------------------------

    def _wait(self, ended: Any) -> None:
        deadline = time.monotonic() + SYNC_WAIT
        while not ended() and time.monotonic() < deadline:
            time.sleep(0.005)

    def wait_job(self, request: Request, job_id: str) -> Response:
        """``GET sync.api/v2/jobs/{id}``: held until the job ends."""
        job = self._visible_job(job_id)
        if job is None:
            return self._not_found("Job")
        self._wait(lambda: self._ended(job, self._states(job, self.clock.now())) is not None)
        return self.show_job(request, job_id)

    def wait_task(self, request: Request, task_id: str) -> Response:
        """``GET sync.api/v2/tasks/{id}``: held until the task ends."""
        with self._lock:
            task = self.tasks.get(task_id)
        if task is None:
            return self._not_found("Task")
        job = self.jobs[task.job]
        self._wait(lambda: self._states(job, self.clock.now())[task.id].ended is not None)
        return self.show_task(request, task_id)

    # -- upload form and storage ------------------------------------------------------------------

    def _form_signature(self, task: _Task) -> str:
        text = f"{task.id}:{task.form_expires}".encode()
        return hmac.new(self.signing_secret.encode(), text, hashlib.sha1).hexdigest()

    def upload(self, request: Request, task_id: str) -> Response:
        """``POST`` to the form: multipart, the form's ``parameters`` and one ``file``; 201."""
        self.upload_headers.append(dict(request.headers.items()))
        with self._lock:
            task = self.tasks.get(task_id)
        if task is None or task.operation != "import/upload":
            return Response("No such upload.", 404, mimetype="text/plain")
        form = request.form
        signature = form.get("signature", "")
        if not hmac.compare_digest(signature.encode(), self._form_signature(task).encode()):
            return Response("Invalid signature.", 403, mimetype="text/plain")
        if str(form.get("expires")) != str(task.form_expires) or time.time() > task.form_expires:
            return Response("The form has expired.", 403, mimetype="text/plain")
        files = request.files.getlist("file")
        if len(files) != 1:
            return Response("Exactly one file is expected.", 400, mimetype="text/plain")
        if task.uploaded is not None or task.cancelled is not None:
            return Response("The task takes no more files.", 409, mimetype="text/plain")
        part = files[0]
        data = part.stream.read(_MAX_FILE + 1)
        if len(data) > _MAX_FILE:
            return Response("The file is too large.", 413, mimetype="text/plain")
        name = PurePosixPath((part.filename or "file").replace("\\", "/")).name or "file"
        with self._lock:
            task.upload = _File(name, data)
            task.uploaded = self.clock.now()
            self.files[task.id] = task.upload
            job = self.jobs[task.job]
        self._schedule_webhook(job)
        return Response(status=201)

    def download(self, request: Request, token: str, name: str) -> Response:
        """``GET /storage/{token}/{name}``: an exported file (its URL is its credential)."""
        with self._lock:
            found = next((f for f in self.files.values() if f.token == token), None)
        if found is None:
            return Response("Not found.", 404, mimetype="text/plain")
        return Response(
            found.data,
            200,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(found.name)}"},
            mimetype="application/octet-stream",
        )

    # -- account, formats, webhooks ---------------------------------------------------------------

    def me(self, request: Request) -> Response:
        """``GET /v2/users/me``: the account (``id``, ``username``, ``email``, ``credits``)."""
        return json_response(
            {
                "data": {
                    "id": 1,
                    "username": "sandbox",
                    "email": "sandbox@example.invalid",
                    "credits": self.credits,
                    "created_at": _stamp_of(0.0, self),
                }
            }
        )

    def formats(self, request: Request) -> Response:
        """``GET /v2/convert/formats``: the conversions of ``formats.json``, filtered by
        ``filter[input_format]``, ``filter[output_format]``, ``filter[operation]``."""
        src = request.args.get("filter[input_format]")
        dst = request.args.get("filter[output_format]")
        op = request.args.get("filter[operation]")
        data = [
            {"operation": "convert", "input_format": a, "output_format": b}
            for a, b in _formats().pairs()
            if (src is None or a == src.lower())
            and (dst is None or b == dst.lower())
            and op in (None, "convert")
        ]
        return json_response({"data": data})

    def _schedule_webhook(self, job: _Job) -> None:
        """Schedule the job's one call to its ``webhook_url`` for when it ends (once its end is
        known: every import has its file), signed as the service signs."""
        if job.webhook_url is None or job.hidden:
            return
        with self._lock:
            if job.webhook_scheduled:
                return
            final = self._states(job, math.inf)
            end = self._ended(job, final)
            if end is None or math.isinf(end):
                return
            job.webhook_scheduled = True
        view = self._job_view(job, with_tasks=True, now=end)
        event = "job.finished" if view["status"] == "finished" else "job.failed"
        body = json.dumps({"event": event, "job": view}).encode()
        secret = self.signing_secret
        self.webhooks.schedule(
            max(0.0, self.clock.real(end - self.clock.now())),
            "POST",
            job.webhook_url,
            body,
            {"Content-Type": "application/json"},
            sign=lambda: {SIGNATURE_HEADER: sign_webhook(body, secret)},
            retries=(1.0, 2.0, 4.0),
        )

    def jobs_of(self, tag: str) -> Iterable[str]:
        """The ids of the jobs with ``tag`` (for tests)."""
        return [j.id for j in self.jobs.values() if j.tag == tag]
