"""The dashboard's WSGI application: its pages, its JSON API and its actions.

Pages are rendered on the server from the ledger (Jinja2, every value escaped); charts are SVG
drawn here; one script of the package's own (``static/dashboard.js``) brings new and changed
rows in without a reload. A Content-Security-Policy allows nothing from outside the page's
origin and no inline script or style. Actions (cancel, resubmit) need the token: a script sends it
as a bearer token, a person signs in with it (a session cookie) and each form carries a CSRF token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from asyncjobs import errors
from asyncjobs._ledger import Ledger
from asyncjobs._redaction import get_logger

from . import _charts, _data
from ._auth import MIN_TOKEN, Guard

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from asyncjobs._client import Client

__all__ = ["Dashboard"]

log = get_logger("asyncjobs.dashboard")

_COOKIE = "asyncjobs_session"
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}

_ROUTES = Map(
    [
        Rule("/", endpoint="jobs", methods=["GET"]),
        Rule("/jobs/<provider>/<path:job_id>/cancel", endpoint="cancel_form", methods=["POST"]),
        Rule("/jobs/<provider>/<path:job_id>/resubmit", endpoint="resubmit_form", methods=["POST"]),
        Rule("/jobs/<provider>/<path:job_id>", endpoint="job", methods=["GET"]),
        Rule("/providers", endpoint="providers", methods=["GET"]),
        Rule("/fleet", endpoint="fleet", methods=["GET"]),
        Rule("/signin", endpoint="signin", methods=["GET", "POST"]),
        Rule("/signout", endpoint="signout", methods=["POST"]),
        Rule("/api/jobs", endpoint="api_jobs", methods=["GET"]),
        Rule("/api/changes", endpoint="api_changes", methods=["GET"]),
        Rule("/api/jobs/<provider>/<path:job_id>/cancel", endpoint="api_cancel", methods=["POST"]),
        Rule(
            "/api/jobs/<provider>/<path:job_id>/resubmit",
            endpoint="api_resubmit",
            methods=["POST"],
        ),
        Rule("/api/jobs/<provider>/<path:job_id>", endpoint="api_job", methods=["GET"]),
        Rule("/static/<name>", endpoint="static", methods=["GET"]),
        Rule("/charts/jobs.svg", endpoint="jobs_chart", methods=["GET"]),
    ],
    strict_slashes=False,
)


class Dashboard:
    """The web dashboard of a ledger: a WSGI application (serve it with ``asyncjobs dashboard``, or
    mount it in a Flask, Django or Starlette site as the webhook receiver can be).

    Pages: ``/`` (jobs; filters as query parameters: ``?status=failed&provider=convertapi``,
    ``kind``, ``since`` (``1h``, ``24h``, ``7d``), ``q`` (the start of a job id), ``limit``,
    ``before``), ``/jobs/<provider>/<id>``, ``/providers``, ``/fleet``; a JSON API beside them:
    ``GET /api/jobs?...``, ``GET /api/jobs/<provider>/<id>``, and ``POST
    /api/jobs/<provider>/<id>/cancel`` and ``/resubmit`` with ``Authorization: Bearer <token>``.

    Args:
        ledger: the ledger shown: a :class:`~asyncjobs.Ledger`, a SQLite path or a
            ``postgresql://`` URL; ``None``: the default ledger (``ASYNCJOBS_LEDGER``, else the
            local SQLite file).
        token: who holds it may cancel and resubmit jobs (at least 16 characters); ``None``: the
            dashboard is read-only.
        connect: how the client of a provider is made for an action (default:
            :func:`asyncjobs.connect` with settings from the environment, on this ledger).

    Raises:
        InvalidParameterError: ``token`` is not a string of at least 16 characters.
    """

    def __init__(
        self,
        ledger: Ledger | str | None = None,
        token: str | None = None,
        *,
        connect: Callable[[str, Ledger], Client] | None = None,
    ) -> None:
        if token is not None and (not isinstance(token, str) or len(token) < MIN_TOKEN):
            raise errors.InvalidParameterError(
                f"token must be a string of at least {MIN_TOKEN} characters (a long random one: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'), or None for a "
                "read-only dashboard",
                parameter="token",
            )
        if ledger is None:
            self.ledger = Ledger.default(read_only=token is None)
        elif isinstance(ledger, Ledger):
            self.ledger = ledger
        else:
            self.ledger = Ledger.open(ledger)
        self._guard = Guard(token)
        self._connect = connect
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("asyncjobs._dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def __repr__(self) -> str:
        return f"<asyncjobs Dashboard {self.ledger!r} {self._guard!r}>"

    def close(self) -> None:
        """Close the clients made for actions (the ledger is the caller's)."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, values = _ROUTES.bind_to_environ(environ).match()
            response: Response = getattr(self, f"_{endpoint}")(request, **values)
        except _data.BadQuery as exc:
            response = self._problem(request, 400, str(exc))
        except NotFound:
            response = self._problem(request, 404, "no such page")
        except MethodNotAllowed:
            response = self._problem(request, 405, "that method is not allowed here")
        except HTTPException as exc:
            response = self._problem(request, exc.code or 400, exc.description or "bad request")
        except errors.LedgerError as exc:
            response = self._problem(request, 503, f"the ledger failed: {exc}")
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response(environ, start_response)

    # -- rendering --------------------------------------------------------------------------------

    def _page(self, request: Request, template: str, status: int = 200, **values: Any) -> Response:
        cookie = request.cookies.get(_COOKIE)
        signed_in = self._guard.session(cookie)
        body = self._templates.get_template(template).render(
            signed_in=signed_in,
            read_only=self._guard.read_only,
            csrf=self._guard.csrf(cookie) if signed_in and cookie else "",
            ledger=str(self.ledger),
            **values,
        )
        return Response(body, status=status, mimetype="text/html")

    def _problem(self, request: Request, status: int, message: str) -> Response:
        if request.path.startswith("/api/"):
            return _json({"error": message}, status)
        return self._page(request, "error.html", status, status_code=status, message=message)

    # -- pages ------------------------------------------------------------------------------------

    def _jobs(self, request: Request) -> Response:
        filters = _data.Filters.parse(request.args)
        page = _data.jobs_page(self.ledger, filters)
        return self._page(
            request,
            "jobs.html",
            filters=filters,
            page=page,
            statuses=("pending", "done", "failed"),
            spans=("1h", "24h", "7d"),
        )

    def _jobs_chart(self, request: Request) -> Response:
        """The chart of jobs over the last day: an image of its own, so that it never holds up
        the first page of jobs."""
        timeline = self.ledger.timeline(datetime.now(timezone.utc) - timedelta(days=1))
        return Response(_charts.jobs_over_time(timeline), mimetype="image/svg+xml")

    def _job(self, request: Request, provider: str, job_id: str) -> Response:
        entry = self.ledger.get(provider, job_id)
        if entry is None:
            return self._problem(request, 404, f"no job {job_id!r} at {provider} in this ledger")
        return self._page(
            request,
            "job.html",
            row=_data.job_row(0, entry),
            entry=entry,
            params=_data.params_text(entry),
            details=_data.details_text(entry),
            history=self.ledger.history(provider, job_id),
            counts=self.ledger.job_counts(provider, job_id),
            files=self._files(entry),
            message=request.args.get("message", "")[:300],
        )

    def _files(self, entry: Any) -> list[dict[str, str]]:
        """The result files of a done job, as its provider lists them; none when the job is not
        done or the provider cannot be asked (the page says the job's status)."""
        info = entry.info
        if info is None or info.status.value != "done" or entry.job_id is None:
            return []
        try:
            result = self._client(entry.provider).fetch_result(entry.job_id)
        except Exception as exc:  # the page still shows the job
            return [{"name": f"(result not available: {type(exc).__name__})", "size": ""}]
        return [
            {"name": f.name, "size": "" if f.size is None else str(f.size)} for f in result.files
        ]

    def _providers(self, request: Request) -> Response:
        summaries = _data.provider_summaries(self.ledger)
        charts = {s.provider: Markup(_charts.duration_histogram(s.durations)) for s in summaries}
        return self._page(
            request,
            "providers.html",
            summaries=summaries,
            charts=charts,
            budgets=self.ledger.budgets(),
        )

    def _fleet(self, request: Request) -> Response:
        return self._page(
            request,
            "fleet.html",
            shared=self.ledger.shared,
            holders=self.ledger.holders() if self.ledger.shared else [],
        )

    def _static(self, request: Request, name: str) -> Response:
        if name not in _STATIC:
            raise NotFound()
        data = resources.files("asyncjobs._dashboard").joinpath("static", name).read_bytes()
        response = Response(data, mimetype=_STATIC[name])
        response.headers["Cache-Control"] = "max-age=300"
        return response

    # -- signing in -------------------------------------------------------------------------------

    def _signin(self, request: Request) -> Response:
        if self._guard.read_only:
            return self._problem(request, 403, "this dashboard is read-only: it has no token")
        if request.method == "GET":
            return self._page(request, "signin.html", failed=False)
        cookie = self._guard.sign_in(request.form.get("token", ""))
        if cookie is None:
            log.warning("dashboard: a sign-in with a wrong token from %s", request.remote_addr)
            return self._page(request, "signin.html", 403, failed=True)
        response = _redirect("/")
        response.set_cookie(
            _COOKIE,
            cookie,
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
            path="/",
        )
        return response

    def _signout(self, request: Request) -> Response:
        response = _redirect("/")
        response.delete_cookie(_COOKIE, path="/")
        return response

    # -- actions ----------------------------------------------------------------------------------

    def _cancel_form(self, request: Request, provider: str, job_id: str) -> Response:
        return self._form_action(request, provider, job_id, "cancel")

    def _resubmit_form(self, request: Request, provider: str, job_id: str) -> Response:
        return self._form_action(request, provider, job_id, "resubmit")

    def _form_action(self, request: Request, provider: str, job_id: str, action: str) -> Response:
        cookie = request.cookies.get(_COOKIE)
        if not self._guard.csrf_ok(cookie, request.form.get("csrf")):
            return self._problem(request, 403, "sign in with the dashboard's token to act on jobs")
        _, message, new = self._act(provider, job_id, action)
        target = new or (provider, job_id)
        return _redirect(f"/jobs/{_quote(target[0])}/{_quote(target[1])}?message={_quote(message)}")

    def _api_cancel(self, request: Request, provider: str, job_id: str) -> Response:
        return self._api_action(request, provider, job_id, "cancel")

    def _api_resubmit(self, request: Request, provider: str, job_id: str) -> Response:
        return self._api_action(request, provider, job_id, "resubmit")

    def _api_action(self, request: Request, provider: str, job_id: str, action: str) -> Response:
        if not self._guard.bearer(request.headers.get("Authorization")):
            status = 403 if self._guard.read_only else 401
            return _json(
                {"error": "send the dashboard's token: Authorization: Bearer <token>"}, status
            )
        ok, message, new = self._act(provider, job_id, action)
        body: dict[str, Any] = {"ok": ok, "message": message}
        if new is not None:
            body["provider"], body["job_id"] = new
        return _json(body, 200 if ok else 409)

    def _act(
        self, provider: str, job_id: str, action: str
    ) -> tuple[bool, str, tuple[str, str] | None]:
        """Cancel or resubmit a job with this process's own provider settings: whether it was
        done, what to tell the person, and the new job (a resubmit)."""
        entry = self.ledger.get(provider, job_id)
        if entry is None:
            return False, f"no job {job_id!r} at {provider} in this ledger", None
        try:
            client = self._client(provider)
            if action == "cancel":
                client.cancel(job_id)
                return True, f"job {job_id} at {provider} cancelled", None
            job = client.resubmit(job_id)
            return True, f"resubmitted as job {job.id} at {job.provider}", (job.provider, job.id)
        except errors.InvalidParameterError as exc:
            if action == "resubmit" and exc.parameter == "source" and entry.source:
                import socket

                return (
                    False,
                    f"job {job_id} at {provider} is not resubmitted: its kept source "
                    f"{entry.source!r} does not exist on the dashboard's host "
                    f"({socket.gethostname()}). Resubmit it where the file is (asyncjobs "
                    "resubmit), or submit it again.",
                    None,
                )
            return self._refused(provider, job_id, action, exc)
        except errors.AsyncJobsError as exc:
            return self._refused(provider, job_id, action, exc)

    @staticmethod
    def _refused(
        provider: str, job_id: str, action: str, exc: errors.AsyncJobsError
    ) -> tuple[bool, str, None]:
        log.info("dashboard: %s of %s job %s refused: %s", action, provider, job_id, exc)
        return False, str(exc), None

    def _client(self, provider: str) -> Client:
        with self._lock:
            client = self._clients.get(provider)
            if client is None:
                if self._connect is not None:
                    client = self._connect(provider, self.ledger)
                else:
                    from asyncjobs._client import connect

                    client = connect(provider, ledger=self.ledger)
                self._clients[provider] = client
            return client

    # -- the JSON API -----------------------------------------------------------------------------

    def _api_jobs(self, request: Request) -> Response:
        filters = _data.Filters.parse(request.args)
        page = _data.jobs_page(self.ledger, filters)
        return _json(
            {
                "jobs": [_data.row_data(r) for r in page.rows],
                "next": None
                if page.next_query is None
                else "/api/jobs?" + urlencode(dict(page.next_query)),
            }
        )

    def _api_job(self, request: Request, provider: str, job_id: str) -> Response:
        entry = self.ledger.get(provider, job_id)
        if entry is None:
            return _json({"error": f"no job {job_id!r} at {provider} in this ledger"}, 404)
        history = self.ledger.history(provider, job_id)
        return _json(
            {
                **_data.row_data(_data.job_row(0, entry)),
                "params": dict(entry.params),
                "history": [
                    {"at": t.isoformat(), "status": s.value, "raw_status": r} for t, s, r in history
                ],
            }
        )

    def _api_changes(self, request: Request) -> Response:
        """What a jobs page shows that changed: its rows looked at again (``keys``) and the jobs
        recorded after its newest (``after``), with its filters."""
        args = dict(request.args)
        keys = [k for k in args.pop("keys", "").split(",") if k][: _data.MAX_PAGE]
        after_text = args.pop("after", "0")
        if not after_text.isdigit():
            raise _data.BadQuery(f"after must be a whole number, not {after_text!r}")
        for paging in ("before", "after", "sort"):
            args.pop(paging, None)
        filters = _data.Filters.parse(args)
        fresh = _data.jobs_page(self.ledger, filters, after=int(after_text))
        rows = [_data.row_data(_data.job_row(0, e)) for e in self.ledger.by_keys(keys)]
        return _json(
            {
                "rows": rows,
                "new": [_data.row_data(r) for r in fresh.rows],
                "newest": fresh.newest,
            }
        )


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, default=str, ensure_ascii=True), status=status, mimetype="application/json"
    )


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
