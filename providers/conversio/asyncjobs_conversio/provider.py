"""The Conversio adapter: newsletter and segment CSV exports run as Conversio async jobs.

Wire facts: ``POST`` on a kind's export endpoint creates a job, ``GET /async-jobs/{id}`` tells its
status, ``GET /async-jobs`` lists the shop's jobs, and a done job's ``result`` is the URL of a CSV file.
Conversio cannot cancel a job and removes every job one week after it finishes.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import cattrs
import requests

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
from asyncjobs.errors import (
    InvalidParameterError,
    JobNotFoundError,
    NotSupportedError,
    ProviderError,
    TransportError,
)
from asyncjobs.transport import (
    ErrorDetails,
    HeaderAuth,
    default_error_details,
    path_segment,
    same_origin,
)

from . import wire

__all__ = ["ConversioProvider"]

#: Conversio keeps a finished job (and its CSV) this long, then answers 404.
JOB_LIFETIME = timedelta(days=7)

_STATUSES = {"pending": Status.PENDING, "done": Status.DONE, "failed": Status.FAILED}

#: kind -> (its parameter, the path of the endpoint that creates it)
_EXPORTS = {
    "newsletter-recipients": ("newsletter", "newsletters/{}/recipients/async-export"),
    "newsletter-emails": ("newsletter", "newsletters/{}/emails/async-export"),
    "segments-export": ("segment", "segments/{}/async-export"),
}

_NOT_FOUND_ADVICE = (
    "The id is wrong, belongs to another shop or app, or the job expired: Conversio removes jobs "
    "a week after they finish."
)


#: The API's root since Conversio became CM Commerce (the vendor's API docs moved there in 2021);
#: the older ``https://app.conversio.com/api/v1`` still works through the ``base_url`` setting.
DEFAULT_BASE_URL = "https://commerce.campaignmonitor.com/api/v1"


class ConversioProvider(Provider):
    """Conversio's async jobs: CSV exports of a newsletter's recipients or e-mails, or of a segment."""

    name = "conversio"
    kinds = (
        Kind(
            "newsletter-recipients",
            (Param("newsletter", required=True, doc="the newsletter's id"),),
            doc="Export the e-mail addresses a newsletter was sent to, as CSV.",
        ),
        Kind(
            "newsletter-emails",
            (Param("newsletter", required=True, doc="the newsletter's id"),),
            doc="Export a newsletter's e-mails with their activity timestamps, as CSV.",
        ),
        Kind(
            "segments-export",
            (Param("segment", required=True, doc="the customer segment's id"),),
            doc="Export the customers of a segment, as CSV.",
        ),
    )
    capabilities = Capabilities(
        cancel=False,
        list=True,
        poll=PollPolicy(initial=2.0, factor=1.5, cap=30.0, min_interval=1.0),
        job_lifetime=JOB_LIFETIME,
    )
    settings = (
        Setting(
            "api_key",
            env="CONVERSIO_API_KEY",
            required=True,
            secret=True,
            doc="the shop's API key, sent as the X-ApiKey header",
        ),
        Setting(
            "base_url",
            url=True,
            env="CONVERSIO_BASE_URL",
            default=DEFAULT_BASE_URL,
            doc="the API's base URL (https://app.conversio.com/api/v1 before the CM Commerce rename)",
        ),
    )
    sandbox = "asyncjobs_conversio.sandbox:ConversioSandbox"

    # -- hooks ------------------------------------------------------------------------------------

    def auth(self) -> requests.auth.AuthBase:
        """The API key, as the ``X-ApiKey`` header."""
        return HeaderAuth("X-ApiKey", self.config["api_key"])

    def request(
        self, method: str, url: str, *, job_id: str | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send one API request; every one asks for JSON (Conversio answers 406 when the requested
        format is not JSON)."""
        kwargs["headers"] = {"Accept": "application/json", **kwargs.get("headers", {})}
        return super().request(method, url, job_id=job_id, **kwargs)

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Join the messages of ``{"errors": [...]}`` (Conversio's errors carry no code)."""
        try:
            body = wire.converter.structure(response.json(), wire.ErrorBody)
        except (ValueError, TypeError, KeyError, cattrs.BaseValidationError):
            return default_error_details(response)
        return ErrorDetails(message="; ".join(body.errors) or None)

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check that the newsletter or segment id is a non-empty string that names one path segment."""
        param = _EXPORTS[kind][0]
        value = params[param]
        if not isinstance(value, str) or not value.strip() or value in (".", ".."):
            raise InvalidParameterError(
                f"conversio {kind!r}: {param} must be the {param}'s id, a non-empty string, "
                f"not {value!r}.",
                parameter=param,
                provider=self.name,
            )
        return params

    # -- the contract -----------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        params: Mapping[str, Any],
        *,
        job_id: str | None = None,
        webhook: str | None = None,
    ) -> JobInfo:
        """POST the kind's export endpoint; a 404 means the newsletter or segment does not exist."""
        param, path = _EXPORTS[kind]
        source_id = params[param]
        response = self.request("POST", path.format(path_segment(source_id)), accept=(404,))
        if response.status_code == 404:
            raise self.transport.error_for(
                response,
                parser=self.parse_error,
                cls=ProviderError,
                advice=f"Conversio has no {param} {source_id!r} in this shop: check the {param} id.",
            )
        job = self.decode(response, wire.JobBody, wire.converter).data
        if not job.id.strip():
            raise TransportError(
                f"conversio created a {kind!r} job but answered no job id (HTTP "
                f"{response.status_code}). Find it with client.list() before submitting again.",
                provider=self.name,
                status_code=response.status_code,
            )
        return self._info(job)

    def status(self, job_id: str) -> JobInfo:
        """``GET /async-jobs/{id}``."""
        return self._info(self._job(job_id)[1], job_id)

    def result(self, job_id: str) -> Result:
        """The CSV file of a done export (``result`` is its URL); other results stay in ``raw``."""
        raw, job = self._job(job_id)
        info = self._info(job, job_id)
        self.require_done(info)
        if not (job.result or "").startswith(("http://", "https://")):
            return Result(raw=raw)
        url = str(job.result)
        name = posixpath.basename(unquote(urlsplit(url).path))
        if name in ("", ".", ".."):
            name = f"{job_id}.csv"
        return Result(files=(ResultFile(name, url=url, media_type="text/csv"),), raw=raw)

    @contextlib.contextmanager
    def open_file(self, file: ResultFile) -> Iterator[IO[bytes]]:
        """Stream a result CSV. The API key goes only to the API's own host (scheme, host and port
        of ``base_url``): a result URL elsewhere is fetched without it."""
        if not file.url:
            raise NotSupportedError(f"conversio: result file {file.name!r} has no URL to fetch")
        with self.transport.stream(
            "GET",
            file.url,
            auth=self.auth(),  # the transport signs only the base URL's origin, on every hop
            error_parser=self.parse_error,
            headers={"Accept": "text/csv, application/json"},
        ) as stream:
            yield stream

    def cancel(self, job_id: str) -> None:
        """Always raises: Conversio has no endpoint to cancel or delete a job."""
        raise NotSupportedError(
            f"Conversio cannot cancel a job: its API has no cancel or delete endpoint. Job "
            f"{job_id!r} runs to its end; ignore its result (Conversio removes it a week after it "
            "finishes).",
            provider=self.name,
            job_id=job_id,
        )

    def list(self) -> list[JobInfo]:
        """``GET /async-jobs``: every job of the shop, following ``meta.nextPage`` should it appear
        (only on the API's own host, and never twice to one page)."""
        url: str | None = self.config["base_url"].rstrip("/") + "/async-jobs"
        seen: set[str] = set()
        jobs: list[JobInfo] = []
        while url and url not in seen and same_origin(url, self.config["base_url"]):
            seen.add(url)
            body = self.decode(self.request("GET", url), wire.JobsBody, wire.converter)
            jobs.extend(self._info(job) for job in body.data if job.id.strip())
            url = body.meta.next_page if body.meta else None
        return jobs

    # -- helpers ----------------------------------------------------------------------------------

    def _job(self, job_id: str) -> tuple[Any, wire.AsyncJob]:
        """The job's JSON and model; JobNotFoundError (with Conversio's reasons) on 404."""
        response = self.request(
            "GET", f"async-jobs/{path_segment(job_id)}", job_id=job_id, accept=(404,)
        )
        if response.status_code == 404:
            raise self.transport.error_for(
                response,
                job_id=job_id,
                parser=self.parse_error,
                cls=JobNotFoundError,
                advice=_NOT_FOUND_ADVICE,
            )
        body = self.decode(response, wire.JobBody, wire.converter, job_id=job_id)
        return response.json()["data"], body.data

    def _info(self, job: wire.AsyncJob, job_id: str | None = None) -> JobInfo:
        meta = {"result": job.result, "partner_app": job.partner_app}
        return JobInfo(
            provider=self.name,
            id=job_id or job.id,
            kind=job.kind,
            status=_STATUSES.get(job.status, Status.PENDING),  # unknown words read as pending
            raw_status=job.status,
            started_at=job.started_at,
            completed_at=job.completed_at,
            error=self.transport.redactor(job.error) if job.error else None,
            expires_at=_expiry(job.completed_at),
            meta={k: v for k, v in meta.items() if v is not None},
        )


def _expiry(completed_at: datetime | None) -> datetime | None:
    """When Conversio removes a job that completed at ``completed_at`` (None past year 9999)."""
    if completed_at is None:
        return None
    try:
        return completed_at + JOB_LIFETIME
    except OverflowError:
        return None
