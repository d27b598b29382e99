"""A local emulator of Zamzar API v1, served over real HTTP by :class:`asyncjobs.sandbox.Sandbox`.

Endpoints (under ``/v1``, every one behind the API key as HTTP Basic user name or as a Bearer token)::

    GET    /                         welcome message
    GET    /account                  credits and plan
    GET    /files  POST /files       list (paged) / upload (multipart ``content``, ``name``) -> 201
    GET    /files/{id}               metadata        DELETE /files/{id} -> the deleted file
    GET    /files/{id}/content       the bytes (``Content-Disposition: attachment``)
    GET    /formats  /formats/{name} the conversions and their credit costs (from formats.json)
    GET    /imports  POST /imports   list / start an import (form ``url``, ``filename``) -> 201
    GET    /imports/{id}             an import
    GET    /jobs  /jobs/successful   list (paged, newest first)
    POST   /jobs                     submit (multipart ``source_file`` upload, URL or file id) -> 201
    GET    /jobs/{id}  DELETE ...    a job / cancel it

Answers are shaped like the vendor's mock server (github.com/zamzar/zamzar-mock) and OpenAPI document:
the ``{"errors": [{"message", "code", "context"}]}`` body with its codes (10 missing parameter, 11
invalid value, 20 bad key, 21 no such resource), ``Zamzar-Credits-Remaining`` /
``Zamzar-Test-Credits-Remaining`` / ``X-RateLimit-*`` headers, paging ``{"data", "paging":
{"total_count", "first", "last", "limit"}}`` with ``after``/``before``/``limit`` (max 50).

Jobs run on the sandbox clock: ``initialising``, then ``converting``, then ``successful`` (or ``failed``:
an empty source fails with the vendor's example failure, code 2). A document converted to an image
format gives one file per page (pages split by form feeds) plus a ``.zip`` of them, as Zamzar does.
With ``examples=True`` the sandbox starts with the mock server's example files, imports and jobs
(jobs 1-3, imports 1-3, files 1-7), which advance one status per look as the mock's do.
No webhooks: Zamzar has none.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import attrs
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs.sandbox import SandboxApp, json_response

from .wire import (
    Account,
    ApiError,
    Errors,
    Export,
    Failure,
    Format,
    FormatTarget,
    Import,
    Job,
    Plan,
    WireFile,
    unstructure,
)

__all__ = ["DEFAULT_KEY", "ZamzarSandbox", "expected_output"]

#: The key the sandbox accepts unless told another (the vendor's example key in its docs and mock).
DEFAULT_KEY = "GiVUYsF4A8ssq93FR48H"
#: Formats that a multi-page source becomes one file per page of.
IMAGE_FORMATS = frozenset({"bmp", "gif", "jpg", "png", "tiff", "tif", "webp", "pcx", "tga"})
MAX_LIMIT = 50


def expected_output(src: str, dst: str, data: bytes) -> bytes:
    """The bytes the sandbox makes of converting ``data`` from ``src`` to ``dst`` (deterministic,
    so tests can check a download)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    return f"zamzar-sandbox {src}->{dst} {digest}\n".encode() + data


def _pages(data: bytes) -> list[bytes]:
    return data.split(b"\f") if b"\f" in data else [data]


def _ext(name: str | None) -> str | None:
    if not name:
        return None
    lower = name.lower()
    for double in ("tar.gz", "tar.bz2"):
        if lower.endswith("." + double):
            return double
    suffix = PurePosixPath(lower).suffix
    return suffix[1:] or None


def _error(status: int, code: int, message: str, **context: str) -> Response:
    err = ApiError(message=message, code=code, context=context or None)
    return json_response(unstructure(Errors((err,))), status)


def _missing(parameter: str) -> Response:
    return _error(422, 10, "no value was specified for a mandatory parameter", parameter=parameter)


def _invalid(parameter: str, reason: str) -> Response:
    return _error(
        422,
        11,
        "an invalid value was specified for a parameter",
        parameter=parameter,
        reason=reason,
    )


def _not_found() -> Response:
    return _error(404, 21, "resource does not exist")


@attrs.define
class _File:
    id: int
    name: str
    data: bytes = attrs.field(repr=False)
    created: float
    fmt: str | None = None
    deletable: bool = True

    def wire(self, key: str) -> WireFile:
        return WireFile(
            id=self.id,
            key=key,
            name=self.name,
            size=len(self.data),
            format=self.fmt,
            created_at=None,
        )


@attrs.define
class _Job:
    id: int
    source: _File
    src: str
    dst: str
    created: float
    duration: float
    credit_cost: int
    export_url: str | None = None
    options: dict[str, Any] | None = None
    cancelled: bool = False
    outputs: list[_File] = attrs.field(factory=list)
    #: the mock's example jobs: their stages, advanced one per look
    stages: list[dict[str, Any]] | None = None
    looked: int = 0
    fail: bool = False  # fail_next(): it fails as an empty source does


@attrs.define
class _Import:
    id: int
    url: str
    filename: str
    created: float
    failure: Failure | None = None
    file: _File | None = None
    stages: list[dict[str, Any]] | None = None
    looked: int = 0


class ZamzarSandbox(SandboxApp):
    """The Zamzar emulator.

    Args:
        scale: sandbox seconds per wall second.
        key: the API key it accepts.
        duration: sandbox seconds a conversion takes (half initialising, half converting).
        credits: production credits the account starts with (a job costs its target's
            ``credit_cost``; too few left is HTTP 402).
        examples: start with the vendor mock's example files, imports and jobs.
        rate_limit: ``X-RateLimit-Limit`` announced (requests per second are not enforced: use
            ``faults.status(429, ...)`` to test a refusal).
    """

    provider = "zamzar"
    fails_on_demand = True
    url_map = Map(
        [
            Rule("/v1/", endpoint="welcome", methods=["GET"]),
            Rule("/v1/account", endpoint="account", methods=["GET"]),
            Rule("/v1/files", endpoint="list_files", methods=["GET"]),
            Rule("/v1/files", endpoint="upload_file", methods=["POST"]),
            Rule("/v1/files/<file_id>", endpoint="get_file", methods=["GET"]),
            Rule("/v1/files/<file_id>", endpoint="delete_file", methods=["DELETE"]),
            Rule("/v1/files/<file_id>/content", endpoint="file_content", methods=["GET"]),
            Rule("/v1/formats", endpoint="list_formats", methods=["GET"]),
            Rule("/v1/formats/", endpoint="list_formats", methods=["GET"]),
            Rule("/v1/formats/<path:name>", endpoint="get_format", methods=["GET"]),
            Rule("/v1/imports", endpoint="list_imports", methods=["GET"]),
            Rule("/v1/imports", endpoint="start_import", methods=["POST"]),
            Rule("/v1/imports/<import_id>", endpoint="get_import", methods=["GET"]),
            Rule("/v1/jobs", endpoint="list_jobs", methods=["GET"]),
            Rule("/v1/jobs", endpoint="submit_job", methods=["POST"]),
            Rule("/v1/jobs/successful", endpoint="list_successful", methods=["GET"]),
            Rule("/v1/jobs/<job_id>", endpoint="get_job", methods=["GET"]),
            Rule("/v1/jobs/<job_id>", endpoint="cancel_job", methods=["DELETE"]),
        ],
        strict_slashes=False,
    )

    def rate_limited_body(self) -> dict[str, Any]:
        """Zamzar's error shape, for :meth:`rate_limit_next`."""
        body: dict[str, Any] = json.loads(
            _error(429, 8, "the rate limit for this API key has been exceeded").get_data()
        )
        return body

    def __init__(
        self,
        *,
        scale: float = 1.0,
        key: str = DEFAULT_KEY,
        duration: float = 4.0,
        credits: int = 1000,
        test_credits: int = 100,
        examples: bool = False,
        rate_limit: int = 10,
        clock: Any = None,
    ) -> None:
        super().__init__(scale=scale, clock=clock)
        self.key = key
        self.duration = duration
        self.credits = credits
        self.test_credits = test_credits
        self.rate_limit = rate_limit
        self.files: dict[int, _File] = {}
        self.jobs: dict[int, _Job] = {}
        self.imports: dict[int, _Import] = {}
        self._file_ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._import_ids = itertools.count(1)
        table = json.loads((Path(__file__).parent / "formats.json").read_text("utf-8"))
        self.costs: dict[str, dict[str, int]] = table["credit_costs"]
        if examples:
            self._seed_examples()

    # -- plumbing ---------------------------------------------------------------------------------

    def client_settings(self, base_url: str) -> dict[str, str]:
        """The settings that connect an asyncjobs client to this sandbox at ``base_url``."""
        return {"secret": self.key, "base_url": base_url.rstrip("/") + "/v1"}

    def demo_job(self, client: Any, sample: Path) -> Any:
        """The ``asyncjobs demo`` case: the sample document converted to PDF."""
        return client.submit("convert", source=sample, to="pdf")

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip() == self.key
        if scheme.lower() == "basic":
            try:
                user, _, _ = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return user == self.key
        return False

    def dispatch(self, request: Request) -> Response:
        """Check the key (401 with error code 20), route, and add the account headers."""
        if not self._authorized(request):
            return _error(401, 20, "API key was missing or invalid")
        response = super().dispatch(request)
        with self._lock:
            response.headers["Zamzar-Credits-Remaining"] = str(self.credits)
            response.headers["Zamzar-Test-Credits-Remaining"] = str(self.test_credits)
        response.headers["X-RateLimit-Limit"] = str(self.rate_limit)
        response.headers["X-RateLimit-Remaining"] = str(max(0, self.rate_limit - 1))
        return response

    def http_error(self, exc: HTTPException) -> Response:
        if exc.code == 405:
            return _error(405, 22, "the method is not allowed for this resource")
        return _not_found()

    def _stamp(self, t: float) -> str:
        return self.clock.stamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _new_file(self, name: str, data: bytes, *, fmt: str | None = None) -> _File:
        with self._lock:
            f = _File(next(self._file_ids), name, data, self.clock.now(), fmt or _ext(name))
            self.files[f.id] = f
        return f

    def _file_body(self, f: _File) -> dict[str, Any]:
        body: dict[str, Any] = unstructure(f.wire(self.key))
        body["created_at"] = self._stamp(f.created)
        return body

    @staticmethod
    def _id(value: str) -> int | None:
        return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else None

    def _page(
        self,
        request: Request,
        items: list[Any],
        key: Callable[[Any], Any],
        show: Callable[[Any], Any],
    ) -> Response:
        """A page of ``items`` (already in list order) by ``after``/``before``/``limit``."""
        try:
            limit = int(request.args.get("limit", MAX_LIMIT))
        except ValueError:
            return _invalid("limit", "limit must be a number")
        limit = MAX_LIMIT if limit < 1 else min(limit, MAX_LIMIT)
        keys = [str(key(i)) for i in items]
        after, before = request.args.get("after"), request.args.get("before")
        if before is not None:
            if before not in keys:
                return _invalid("before", f"{before} does not exist")
            end = keys.index(before)
            page = items[max(0, end - limit) : end]
        elif after is not None:
            if after not in keys:
                return _invalid("after", f"{after} does not exist")
            start = keys.index(after) + 1
            page = items[start : start + limit]
        else:
            page = items[:limit]
        paging: dict[str, Any] = {"total_count": len(items)}
        if page:
            paging["first"] = key(page[0])
            paging["last"] = key(page[-1])
        paging["limit"] = limit
        return json_response({"data": [show(i) for i in page], "paging": paging})

    # -- account, welcome, formats ----------------------------------------------------------------

    def welcome(self, request: Request) -> Response:
        return json_response({"message": "Welcome to the Zamzar API"})

    def account(self, request: Request) -> Response:
        with self._lock:
            account = Account(
                test_credits_remaining=self.test_credits,
                credits_remaining=self.credits,
                plan=Plan(
                    name="Developer",
                    price_per_month=0,
                    conversions_per_month=25,
                    maximum_file_size=1048576,
                ),
            )
        return json_response(unstructure(account))

    def _format(self, name: str) -> Format:
        return Format(
            name=name,
            targets=tuple(FormatTarget(t, c) for t, c in sorted(self.costs[name].items())),
        )

    def list_formats(self, request: Request) -> Response:
        names = sorted(self.costs)
        return self._page(request, names, lambda n: n, lambda n: unstructure(self._format(n)))

    def get_format(self, request: Request, name: str) -> Response:
        if name not in self.costs:
            return _not_found()
        return json_response(unstructure(self._format(name)))

    # -- files ------------------------------------------------------------------------------------

    def _live_file(self, file_id: str) -> _File | None:
        number = self._id(file_id)
        with self._lock:
            return self.files.get(number) if number is not None else None

    def list_files(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.files.values(), key=lambda f: -f.id)
        return self._page(request, items, lambda f: f.id, self._file_body)

    def upload_file(self, request: Request) -> Response:
        part = request.files.get("content")
        if part is None:
            return _missing("content")
        name = request.form.get("name") or part.filename or ""
        if not name:
            return _missing("name")
        f = self._new_file(name, part.read())
        return json_response(self._file_body(f), 201)

    def get_file(self, request: Request, file_id: str) -> Response:
        f = self._live_file(file_id)
        return _not_found() if f is None else json_response(self._file_body(f))

    def delete_file(self, request: Request, file_id: str) -> Response:
        f = self._live_file(file_id)
        if f is None:
            return _not_found()
        if f.deletable:
            with self._lock:
                self.files.pop(f.id, None)
        return json_response(self._file_body(f))

    def file_content(self, request: Request, file_id: str) -> Response:
        f = self._live_file(file_id)
        if f is None:
            return _not_found()
        safe = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in f.name)
        return Response(
            f.data,
            200,
            headers={"Content-Disposition": f'attachment; filename="{safe}"'},
            mimetype="application/octet-stream",
        )

    # -- imports ----------------------------------------------------------------------------------

    def _import_body(self, imp: _Import) -> dict[str, Any]:
        if imp.stages is not None:
            return imp.stages[min(imp.looked, len(imp.stages) - 1)]
        elapsed = self.clock.now() - imp.created
        if imp.failure is not None:
            status = "failed"
        elif elapsed < self.duration / 4:
            status = "initialising"
        elif elapsed < self.duration / 2:
            status = "downloading"
        else:
            status = "successful"
        if status == "successful" and imp.file is None:
            data = f"imported from {imp.url}\n".encode()
            imp.file = self._new_file(imp.filename, data)
        model = Import(
            id=imp.id,
            key=self.key,
            url=imp.url,
            status=status,
            failure=imp.failure if status == "failed" else None,
            file=imp.file.wire(self.key) if status == "successful" and imp.file else None,
        )
        body: dict[str, Any] = unstructure(model)
        body["created_at"] = self._stamp(imp.created)
        if status in ("successful", "failed"):
            body["finished_at"] = self._stamp(imp.created + self.duration / 2)
        return body

    def list_imports(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.imports.values(), key=lambda i: -i.id)
        return self._page(request, items, lambda i: i.id, self._import_body)

    def start_import(self, request: Request) -> Response:
        url = request.form.get("url")
        if not url:
            return _missing("url")
        filename = request.form.get("filename") or PurePosixPath(urlsplit(url).path).name
        if not filename or (not request.form.get("filename") and "unknown" in url):
            return _missing("filename")
        with self._lock:
            imp = _Import(next(self._import_ids), url, filename, self.clock.now())
            self.imports[imp.id] = imp
        return json_response(self._import_body(imp), 201)

    def get_import(self, request: Request, import_id: str) -> Response:
        number = self._id(import_id)
        with self._lock:
            imp = self.imports.get(number) if number is not None else None
        if imp is None:
            return _not_found()
        body = self._import_body(imp)
        if imp.stages is not None:
            imp.looked += 1
        return json_response(body)

    # -- jobs -------------------------------------------------------------------------------------

    def _outputs(self, job: _Job) -> list[_File]:
        if job.outputs:
            return job.outputs
        stem = PurePosixPath(job.source.name).stem or "file"
        pages = _pages(job.source.data)
        if job.dst in IMAGE_FORMATS and len(pages) > 1:
            made = [
                self._new_file(f"{stem}-{n}.{job.dst}", expected_output(job.src, job.dst, page))
                for n, page in enumerate(pages)
            ]
            bundle = io.BytesIO()
            with zipfile.ZipFile(bundle, "w") as z:
                for f in made:
                    z.writestr(f.name, f.data)
            made.append(self._new_file(f"{stem}.zip", bundle.getvalue()))
        else:
            data = expected_output(job.src, job.dst, job.source.data)
            made = [self._new_file(f"{stem}.{job.dst}", data)]
        job.outputs = made
        return made

    def _job_body(self, job: _Job) -> dict[str, Any]:
        if job.stages is not None:
            return job.stages[min(job.looked, len(job.stages) - 1)]
        elapsed = self.clock.now() - job.created
        failure = None
        finished: float | None = None
        if job.cancelled:
            status = "cancelled"
        elif elapsed < self.duration / 2:
            status = "initialising"
        elif elapsed < self.duration:
            status = "converting"
        elif not job.source.data or job.fail:
            status = "failed"
            failure = Failure(code=2, message="The source file was too small to convert.")
        else:
            status = "successful"
            finished = job.created + self.duration
        targets = self._outputs(job) if status == "successful" else []
        model = Job(
            id=job.id,
            key=self.key,
            status=status,
            failure=failure,
            sandbox=False,
            source_file=job.source.wire(self.key),
            target_files=tuple(f.wire(self.key) for f in targets),
            target_format=job.dst,
            credit_cost=job.credit_cost,
            export_url=job.export_url,
            exports=tuple(
                Export(id=n, url=job.export_url.rstrip("/") + "/" + f.name, status="successful")
                for n, f in enumerate(targets, 1)
            )
            if job.export_url and targets
            else None,
            options=job.options,
        )
        body: dict[str, Any] = unstructure(model)
        body["created_at"] = self._stamp(job.created)
        body["finished_at"] = self._stamp(finished) if finished is not None else None
        return body

    def _live_job(self, job_id: str) -> _Job | None:
        number = self._id(job_id)
        with self._lock:
            return self.jobs.get(number) if number is not None else None

    def list_jobs(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.jobs.values(), key=lambda j: -j.id)
        return self._page(request, items, lambda j: j.id, self._job_body)

    def list_successful(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.jobs.values(), key=lambda j: -j.id)
        done = [j for j in items if self._job_body(j).get("status") == "successful"]
        return self._page(request, done, lambda j: j.id, self._job_body)

    def submit_job(self, request: Request) -> Response:
        """``POST /v1/jobs``: refused (422) without a source or target, for a format Zamzar does not
        convert, or an unreadable ``options``; 402 when the credits do not cover it."""
        target = (request.form.get("target_format") or "").strip().lower()
        given_source = (request.form.get("source_format") or "").strip().lower() or None
        upload = request.files.get("source_file")
        value = request.form.get("source_file")
        if upload is None and not value:
            return _missing("source_file")
        if not target:
            return _missing("target_format")
        options: dict[str, Any] | None = None
        if request.form.get("options"):
            try:
                options = json.loads(request.form["options"])
            except ValueError:
                options = None
            if not isinstance(options, dict):
                return _invalid("options", "options must be a JSON object")
        if upload is not None:
            name = upload.filename or ""
            data = upload.read()
            source: _File | None = None
        elif value is not None and value.isascii() and value.isdigit():
            source = self._live_file(value)
            if source is None:
                return _invalid("source_file", f"{value} is not a file that exists")
            name, data = source.name, source.data
        else:
            assert value is not None
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https", "ftp", "sftp", "s3") or not parts.netloc:
                return _invalid("source_file", f"{value} is not a supported URL")
            name = PurePosixPath(parts.path).name
            data = f"imported from {value}\n".encode()
            source = None
        src = given_source or _ext(name)
        if src is None:
            return _missing("source_format")
        if src not in self.costs:
            return _invalid("source_format", f"{src} is not a supported format")
        if target not in self.costs[src]:
            return _invalid("target_format", f"{target} is not a supported format")
        cost = self.costs[src][target]
        with self._lock:
            if self.credits < cost:
                return _error(402, 30, "insufficient credits remaining to schedule this job")
            self.credits -= cost
        if source is None:
            source = self._new_file(name or f"file.{src}", data, fmt=src)
        with self._lock:
            job = _Job(
                id=next(self._job_ids),
                source=source,
                src=src,
                dst=target,
                created=self.clock.now(),
                duration=self.duration,
                credit_cost=cost,
                export_url=request.form.get("export_url") or None,
                options=options,
                fail=self.take_failure(),
            )
            self.jobs[job.id] = job
        return json_response(self._job_body(job), 201)

    def get_job(self, request: Request, job_id: str) -> Response:
        job = self._live_job(job_id)
        if job is None:
            return _not_found()
        body = self._job_body(job)
        if job.stages is not None:
            job.looked += 1
        return json_response(body)

    def cancel_job(self, request: Request, job_id: str) -> Response:
        """``DELETE /v1/jobs/{id}``: a job still running ends ``cancelled``; a finished one is
        answered as it is."""
        job = self._live_job(job_id)
        if job is None:
            return _not_found()
        if job.stages is not None:
            cancelled = dict(job.stages[0], status="cancelled", target_files=[])
            job.stages, job.looked = [cancelled], 0
            return json_response(cancelled)
        if self._job_body(job)["status"] in ("initialising", "converting"):
            job.cancelled = True
        return json_response(self._job_body(job))

    # -- test hooks -------------------------------------------------------------------------------

    def destroy(self, resource: str, item_id: int) -> None:
        """Remove a job or import entirely (the mock's ``POST /v1/{jobs,imports}/{id}/destroy``)."""
        with self._lock:
            (self.jobs if resource == "jobs" else self.imports).pop(item_id, None)

    def _seed_examples(self) -> None:
        """The vendor mock's boot state: files 1-7, imports 1-3 and jobs 1-3, advancing one status
        per look (github.com/zamzar/zamzar-mock, ``src/main/resources/__files``)."""
        t = self.clock.now()
        names = [
            ("example.mp3", "mp3"),
            ("example.txt", "txt"),
            ("example.key", "key"),
            ("example-0.png", "png"),
            ("example-1.png", "png"),
            ("example-2.png", "png"),
            ("example.zip", "zip"),
        ]
        for name, fmt in names:
            self._new_file(name, f"example content of {name}\n".encode(), fmt=fmt)
        pngs = [self.files[i] for i in (4, 5, 6)]
        bundle = io.BytesIO()
        with zipfile.ZipFile(bundle, "w") as z:
            for f in pngs:
                z.writestr(f.name, f.data)
        self.files[7].data = bundle.getvalue()
        big = _File(0, "large.txt", b"x" * 1024, t, "txt", deletable=False)
        self.files[0] = big

        def wf(i: int) -> dict[str, Any]:
            f = self.files[i]
            return {"id": f.id, "name": f.name, "size": len(f.data)}

        def stages(base: dict[str, Any], final: dict[str, Any]) -> list[dict[str, Any]]:
            return [
                dict(base, status="initialising", target_files=[]),
                dict(base, status="converting", target_files=[]),
                final,
            ]

        j1 = {
            "id": 1,
            "target_format": "txt",
            "source_file": wf(1),
            "options": {"voice": "en.female"},
        }
        j2 = {
            "id": 2,
            "source_file": wf(3),
            "target_format": "png",
            "export_url": "s3://example-bucket/thumbnails/",
        }
        exports = [
            {
                "id": n,
                "url": f"s3://example-bucket/thumbnails/{self.files[i].name}",
                "status": "successful",
            }
            for n, i in enumerate((4, 5, 6, 7), 1)
        ]
        j3 = {"id": 3, "target_format": "txt", "source_file": wf(1)}
        seeded = {
            1: stages(j1, dict(j1, status="successful", target_files=[wf(2)])),
            2: stages(
                j2,
                dict(
                    j2,
                    status="successful",
                    credit_cost=1,
                    target_files=[wf(i) for i in (4, 5, 6, 7)],
                    exports=exports,
                ),
            ),
            3: stages(
                j3,
                dict(
                    j3,
                    status="failed",
                    failure={"code": 2, "message": "The source file was too small to convert."},
                ),
            ),
        }
        for number, st in seeded.items():
            src = self.files[1 if number != 2 else 3]
            self.jobs[number] = _Job(
                number, src, src.fmt or "", st[0]["target_format"], t, 0.0, 1, stages=st
            )
        imp = {"key": self.key, "url": "https://www.example.com/example.mp3"}
        self.imports[1] = _Import(
            1,
            imp["url"],
            "example.mp3",
            t,
            stages=[
                dict(imp, id=1, status="initialising"),
                dict(imp, id=1, status="downloading"),
                dict(imp, id=1, status="successful", file=dict(wf(1), format="mp3")),
            ],
        )
        failing = (
            (
                2,
                "https://www.example.com/example.doc",
                7,
                "The size of the imported file (1.2 GB) exceeds the maximum file size cap for the "
                "current plan (1 GB).",
            ),
            (
                3,
                "s3://aws-prod-creds@example-bucket/example.doc",
                3,
                "The server at 's3://aws-prod-creds@example-bucket' could not be accessed with the "
                "credentials provided",
            ),
        )
        for number, url, code, message in failing:
            base = {"id": number, "key": self.key, "url": url}
            self.imports[number] = _Import(
                number,
                url,
                "example.doc",
                t,
                stages=[
                    dict(base, status="initialising"),
                    dict(base, status="downloading"),
                    dict(base, status="failed", failure={"code": code, "message": message}),
                ],
            )
        self._file_ids = itertools.count(8)
        self._job_ids = itertools.count(4)
        self._import_ids = itertools.count(4)
