"""The Conversio adapter: newsletter and segment CSV exports run as Conversio async jobs.

Wire facts: ``POST`` on a kind's export endpoint creates a job, ``GET /async-jobs/{id}`` tells its
status, ``GET /async-jobs`` lists the shop's jobs, and a done job's ``result`` is the URL of a CSV file.
Conversio cannot cancel a job and removes every job one week after it finishes. Its webhook is set once
per account (``POST /webhooks``, :meth:`ConversioProvider.register_webhook`): the topic
``async-job/completed`` names the job that ended, and every call is signed with an HS256 JWT in
``Authorization: Bearer`` under the API key (:mod:`asyncjobs_conversio.signature`).
"""

from __future__ import annotations

import json
import posixpath
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

import attrs
import requests

from asyncjobs.errors import InvalidParameterError, JobNotFoundError, ProviderError
from asyncjobs.provider import (
    Capabilities,
    HeaderAuth,
    JobInfo,
    Kind,
    Param,
    PollPolicy,
    Provider,
    Setting,
    Status,
    default_error_details,
    path_segment,
    same_origin,
)

from . import wire
from .signature import KID_API_KEY, Verifier

if TYPE_CHECKING:
    from asyncjobs.provider import ErrorDetails, Result, WebhookRequest

__all__ = ["ConversioProvider"]

#: The API's root since Conversio became CM Commerce (the vendor's API docs moved there in 2021);
#: the older ``https://app.conversio.com/api/v1`` still works through the ``base_url`` setting.
DEFAULT_BASE_URL = "https://commerce.campaignmonitor.com/api/v1"

#: kind -> (its parameter, the endpoint that creates it, what it exports)
#: The webhook topic of a finished async job.
TOPIC = "async-job/completed"

_EXPORTS = {
    "newsletter-recipients": ("newsletter", "newsletters/{}/recipients/async-export", "the e-mail "
                              "addresses a newsletter was sent to"),
    "newsletter-emails": ("newsletter", "newsletters/{}/emails/async-export", "a newsletter's "
                          "e-mails with their activity timestamps"),
    "segments-export": ("segment", "segments/{}/async-export", "the customers of a segment"),
}  # fmt: skip


#: The mass unsubscribe of a segment's customers from a customer list (``DELETE
#: /customer-lists/{list}/subscribers?segment=<JSON>``): an async job when the service finds it large.
UNSUBSCRIBE = "list-unsubscribe"
#: The id given to a mass unsubscribe the service completed at once (HTTP 200): there is no job at
#: the service, so its status and result are answered from the id, without a request:
#: ``sync-<unsubscribed>-<failed>-<random>``.
_SYNC = "sync-"


class ConversioProvider(Provider):
    """Conversio's async jobs: CSV exports of a newsletter's recipients or e-mails, or of a segment,
    and the mass unsubscribe of a segment from a customer list."""

    name = "conversio"
    kinds = (
        *(
            Kind(kind, (Param(param, required=True, doc=f"the {param}'s id"),), doc=f"Export {what}, as CSV.")
            for kind, (param, _, what) in _EXPORTS.items()
        ),
        Kind(
            UNSUBSCRIBE,
            (
                Param("list", required=True, doc="the customer list's id"),
                Param("segment", required=True, doc="a Customer Segment: a dict, or its JSON"),
            ),
            doc="Unsubscribe a segment's customers from a customer list (at once when few).",
        ),
    )  # fmt: skip
    capabilities = Capabilities(
        list=True,
        webhooks=True,
        account_webhook=True,  # the user registers receiver.url_for("conversio") with Conversio
        poll=PollPolicy(initial=1.0, factor=1.5, cap=30.0, min_interval=0.5, fraction=0.4),
        job_lifetime=timedelta(days=7),  # then the job and its CSV answer 404
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
    headers: ClassVar = {"Accept": "application/json"}  # Conversio answers 406 to other formats
    download_headers: ClassVar = {"Accept": "text/csv, application/json"}
    status_words: ClassVar = {word: Status(word) for word in ("pending", "done", "failed")}
    advice: ClassVar = {
        JobNotFoundError: "The id is wrong, belongs to another shop or app, or the job expired: "
        "Conversio removes jobs a week after they finish."
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # calls signed with the API key ("kid": "API Key"); each token is accepted once
        self.verifier = Verifier({KID_API_KEY: self.config["api_key"]})

    def auth(self) -> requests.auth.AuthBase:
        """The API key, as the ``X-ApiKey`` header."""
        return HeaderAuth("X-ApiKey", self.config["api_key"])

    def parse_error(self, response: requests.Response) -> ErrorDetails:
        """Join the messages of ``{"errors": [...]}`` (Conversio's errors carry no code)."""
        from asyncjobs.provider import ErrorDetails  # here: only an error answer is read

        try:
            body = wire.converter.read(response.json(), wire.ErrorBody)
        except ValueError:
            return default_error_details(response)
        return ErrorDetails(message="; ".join(body.errors) or None)

    def prepare(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check that the newsletter, segment or list id is a non-empty string that names one path
        segment; a mass unsubscribe's segment becomes its JSON (a JSON object)."""
        if kind == UNSUBSCRIBE:
            params = {**params, "segment": _segment_json(params["segment"])}
        param = "list" if kind == UNSUBSCRIBE else _EXPORTS[kind][0]
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
        """POST the kind's export endpoint (a 404 means the newsletter or segment does not exist);
        DELETE a list's subscribers for a mass unsubscribe."""
        if kind == UNSUBSCRIBE:
            return self._unsubscribe(params)
        param, path, _ = _EXPORTS[kind]
        source_id = params[param]
        response = self.request("POST", path.format(path_segment(source_id)), accept=(404,))
        self._missing(response, f"{param} {source_id!r}", f"the {param} id")
        return self._info(self.decode(response, wire.JobBody, wire.converter).data)

    def status(self, job_id: str) -> JobInfo:
        """``GET /async-jobs/{id}`` (a mass unsubscribe done at once: its id says it all)."""
        done = _sync_job(self.name, job_id)
        if done is not None:
            return done
        return self._info(self._job(job_id)[1], job_id)

    def _missing(self, response: requests.Response, what: str, check: str) -> None:
        """A 404 on a creating request: what it names does not exist in the shop (no job is
        concerned, so ProviderError, never JobNotFoundError)."""
        if response.status_code == 404:
            raise self.transport.error_for(
                response,
                parser=self.parse_error,
                cls=ProviderError,
                advice=f"Conversio has no {what} in this shop: check {check}.",
            )

    def _unsubscribe(self, params: Mapping[str, Any]) -> JobInfo:
        """``DELETE /customer-lists/{list}/subscribers?segment=<JSON>``: 202 with the async job's
        ``asyncJobId``, or 200 when the service removed them at once (no job at the service)."""
        list_id = params["list"]
        response = self.request(
            "DELETE",
            f"customer-lists/{path_segment(list_id)}/subscribers",
            params={"segment": params["segment"]},
            accept=(404,),
        )
        self._missing(response, f"customer list {list_id!r}", "its id")
        if response.status_code == 202:
            started = self.decode(response, wire.UnsubscribeStartedBody, wire.converter).data
            return JobInfo(self.name, started.async_job_id, UNSUBSCRIBE, Status.PENDING, "pending")
        done = self.decode(response, wire.UnsubscribedBody, wire.converter).data
        job_id = f"{_SYNC}{done.unsubscribed}-{done.failed}-{secrets.token_hex(6)}"
        info = _sync_job(self.name, job_id)
        assert info is not None
        return attrs.evolve(info, meta={**info.meta, "failed_reasons": list(done.failed_reasons)})

    def result(self, job_id: str) -> Result:
        """The CSV file of a done export (``result`` is its URL); other results stay in ``raw``
        (a mass unsubscribe done at once: its counts)."""
        from asyncjobs.provider import Result, ResultFile  # here: not built for a status

        done = _sync_job(self.name, job_id)
        if done is not None:
            return Result(raw=dict(done.meta))
        raw, job = self._job(job_id)
        self.require_done(self._info(job, job_id))
        if not (job.result or "").startswith(("http://", "https://")):
            return Result(raw=raw)
        url = str(job.result)
        name = posixpath.basename(unquote(urlsplit(url).path))
        if name in ("", ".", ".."):
            name = f"{job_id}.csv"
        return Result(files=(ResultFile(name, url=url, media_type="text/csv"),), raw=raw)

    def read_webhook(self, request: WebhookRequest) -> list[str]:
        """The ``async-job/completed`` call: ``{"meta": {"topic"}, "data": {"asyncJobId", ...}}``,
        read only when its ``Authorization`` is a token Conversio signed with the API key, fresh
        and never seen before (else no job: the receiver answers 404 and polls nothing)."""
        if not self.verifier.verify(request.headers.get("authorization")):
            return []
        body = wire.converter.read(request.json(), wire.Webhook)
        return [body.data.async_job_id] if body.meta.topic == TOPIC else []

    def register_webhook(self, url: str) -> bool:
        """Subscribe ``url`` (``receiver.url_for("conversio")``) to ``async-job/completed``:
        ``GET /webhooks``, then ``POST /webhooks`` unless the shop already has that subscription
        (Conversio refuses a second one with 400). True when it was created, False when it was
        there already. The calls are then signed with the API key (``kid`` "API Key")."""
        listed = self.decode(
            self.request("GET", "webhooks"), wire.SubscriptionsBody, wire.converter
        )
        if any(s.topic == TOPIC and s.endpoint == url for s in listed.data):
            return False
        self.request("POST", "webhooks", json={"topic": TOPIC, "endpoint": url})
        return True

    def list(self) -> list[JobInfo]:
        """``GET /async-jobs``: every job of the shop, following ``meta.nextPage`` should it appear
        (only on the API's own origin, and never twice to one page)."""
        url: str | None = self.url("async-jobs")
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
        """The job's JSON and model (a 404 is JobNotFoundError with Conversio's reasons)."""
        response = self.request("GET", f"async-jobs/{path_segment(job_id)}", job_id=job_id)
        body = self.decode(response, wire.JobBody, wire.converter, job_id=job_id)
        return response.json()["data"], body.data

    def _info(self, job: wire.AsyncJob, job_id: str | None = None) -> JobInfo:
        meta = {"result": job.result, "partner_app": job.partner_app}
        return JobInfo(
            provider=self.name,
            id=job_id or job.id,
            kind=job.kind,
            status=self.status_of(job.status),
            raw_status=job.status,
            started_at=job.started_at,
            completed_at=job.completed_at,
            error=job.error,
            meta={k: v for k, v in meta.items() if v is not None},
        )


def _segment_json(segment: object) -> str:
    """A Customer Segment as the query parameter carries it: the JSON of an object.

    Raises:
        InvalidParameterError: ``segment`` is neither a dict nor the JSON of an object.
    """
    if isinstance(segment, str):
        try:
            parsed = json.loads(segment)
        except ValueError:
            parsed = None
    else:
        parsed = segment
    if not isinstance(parsed, dict) or not parsed:
        raise InvalidParameterError(
            "conversio 'list-unsubscribe': segment must be a Customer Segment, a non-empty dict "
            'such as {"criteria": [...]} or its JSON, not ' + f"{segment!r:.100}.",
            parameter="segment",
            provider="conversio",
        )
    return json.dumps(parsed, separators=(",", ":"), sort_keys=True)


def _sync_job(provider: str, job_id: str) -> JobInfo | None:
    """The done JobInfo of a mass unsubscribe that was completed at once, read from its id
    (``sync-<unsubscribed>-<failed>-<random>``); ``None`` for any other id."""
    if not job_id.startswith(_SYNC):
        return None
    parts = job_id[len(_SYNC) :].split("-")
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    meta = {"unsubscribed": int(parts[0]), "failed": int(parts[1])}
    return JobInfo(provider, job_id, UNSUBSCRIBE, Status.DONE, "done", meta=meta)
