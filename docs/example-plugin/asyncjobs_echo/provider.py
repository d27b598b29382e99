"""The Echo adapter: ``shout`` jobs (text in, the same text in upper case out).

Wire facts: ``POST /jobs`` ``{"text"}`` creates a job, ``GET /jobs/{id}`` tells its ``state``
(``queued``, ``running``, ``finished``, ``failed``, ``canceled``), ``GET /jobs/{id}/output`` serves a
finished job's text, ``DELETE /jobs/{id}`` cancels and ``GET /jobs`` lists. Every request carries
``Authorization: Bearer <token>``; errors are ``{"error": code, "detail": message}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests

from asyncjobs.errors import InvalidParameterError
from asyncjobs.provider import (
    Budget,
    Capabilities,
    Cost,
    ErrorDetails,
    HeaderAuth,
    JobInfo,
    Kind,
    Param,
    PollPolicy,
    Provider,
    Result,
    ResultFile,
    Setting,
    Status,
    default_error_details,
    path_segment,
)

from . import wire

__all__ = ["EchoProvider"]

#: The longest text the service takes.
MAX_TEXT = 10_000


class EchoProvider(Provider):
    """The Echo service: shouts text, as an async job."""

    name = "echo"
    kinds = (
        Kind(
            "shout",
            (Param("text", required=True, doc="the text to shout, at most 10,000 characters"),),
            doc="Turn a text into upper case.",
        ),
    )
    capabilities = Capabilities(
        cancel=True,
        list=True,
        poll=PollPolicy(initial=0.5, factor=1.5, cap=5.0, min_interval=0.1),
        cost_unit="credits",  # what a finished job's JobInfo.cost is counted in
        # the request rate the service publishes per account: every client keeps to it, shared
        # through the ledger, unless its user sets another (budget=..., $ECHO_BUDGET, --budget)
        budget=Budget(rate=50),
    )
    settings = (
        Setting(
            "token",
            env="ECHO_TOKEN",
            required=True,
            secret=True,
            doc="the API token, sent as a Bearer token",
        ),
        Setting(
            "base_url", url=True, env="ECHO_BASE_URL", required=True, doc="the service's base URL"
        ),
    )
    sandbox = "asyncjobs_echo.sandbox:EchoSandbox"
    status_words: ClassVar = {
        "queued": Status.PENDING,
        "running": Status.PENDING,
        "finished": Status.DONE,
        "failed": Status.FAILED,
        "canceled": Status.FAILED,
    }  # a word not in the table reads as pending, logged once (the base class does it)

    # -- hooks ------------------------------------------------------------------------------------

    def auth(self) -> requests.auth.AuthBase:
        """The token, as a Bearer ``Authorization`` header."""
        return HeaderAuth.bearer(self.config["token"])

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Read ``{"error": code, "detail": message}``."""
        try:
            body = wire.converter.read(response.json(), wire.ErrorBody)
        except ValueError:
            return default_error_details(response)
        return ErrorDetails(code=body.error, message=body.detail or None)

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check that ``text`` is a non-empty string the service accepts."""
        text = params["text"]
        if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
            raise InvalidParameterError(
                f"echo 'shout': text must be a non-empty string of at most {MAX_TEXT:,} "
                f"characters, not {text!r:.60}",
                parameter="text",
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
        """``POST /jobs``."""
        response = self.request("POST", "jobs", json={"text": params["text"]})
        return self._info(self.decode(response, wire.EchoJob, wire.converter))

    def status(self, job_id: str) -> JobInfo:
        """``GET /jobs/{id}`` (a 404 becomes ``JobNotFoundError`` in the core's transport)."""
        response = self.request("GET", f"jobs/{path_segment(job_id)}", job_id=job_id)
        return self._info(self.decode(response, wire.EchoJob, wire.converter, job_id=job_id))

    def result(self, job_id: str) -> Result:
        """One text file, streamed from ``GET /jobs/{id}/output``."""
        response = self.request("GET", f"jobs/{path_segment(job_id)}", job_id=job_id)
        job = self.decode(response, wire.EchoJob, wire.converter, job_id=job_id)
        info = self._info(job)
        self.require_done(info)
        url = self.url(f"jobs/{path_segment(job_id)}/output")
        file = ResultFile(f"{job_id}.txt", size=job.output_size, url=url, media_type="text/plain")
        return Result(files=(file,))

    def cancel(self, job_id: str) -> None:
        """``DELETE /jobs/{id}``."""
        self.request("DELETE", f"jobs/{path_segment(job_id)}", job_id=job_id)

    def list(self) -> list[JobInfo]:
        """``GET /jobs``: every job of the token's account."""
        body = self.decode(self.request("GET", "jobs"), wire.JobsBody, wire.converter)
        return [self._info(job) for job in body.jobs]

    # -- helpers ----------------------------------------------------------------------------------

    def _info(self, job: wire.EchoJob) -> JobInfo:
        return JobInfo(
            provider=self.name,
            id=job.id,
            kind="shout",
            status=self.status_of(job.state),
            raw_status=job.state,
            submitted_at=job.created_at,
            completed_at=job.finished_at,
            error=job.message,
            cost=None if job.credits is None else Cost(job.credits, "credits"),
        )

    # A conversion service also declares which conversions it offers, from its vendor's
    # published list, shipped as package data and read on first use:
    #
    #     @classmethod
    #     @functools.cache
    #     def formats(cls) -> Formats:
    #         return Formats.from_json("asyncjobs_acme", "formats.json")
    #
    # Echo converts nothing, so it keeps the default (None).
