"""Conversio's JSON bodies as attrs models, and the one cattrs converter that reads them.

The wire spells fields in camelCase (``startedAt``); the models use snake_case. The renaming happens
in one place: the core's wire converter at the bottom of this module. Unknown fields are ignored, so a
new field from the service never breaks a client.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from asyncjobs.provider import wire_converter

__all__ = [
    "AsyncJob",
    "ErrorBody",
    "JobBody",
    "JobsBody",
    "Meta",
    "Subscription",
    "SubscriptionsBody",
    "UnsubscribeStarted",
    "UnsubscribeStartedBody",
    "Unsubscribed",
    "UnsubscribedBody",
    "Webhook",
    "WebhookData",
    "WebhookMeta",
    "converter",
]


@attrs.frozen
class AsyncJob:
    """One async job as Conversio describes it (``GET /async-jobs/{id}``)."""

    id: str
    kind: str
    status: str
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: str | None = None
    result: str | None = None
    partner_app: str | None = None


@attrs.frozen
class JobBody:
    """``{"data": job}``: the answer of a creating endpoint and of ``GET /async-jobs/{id}``."""

    data: AsyncJob


@attrs.frozen
class Meta:
    """The pagination block Conversio's other list endpoints send (``nextPage`` is a full URL)."""

    next_page: str | None = None


@attrs.frozen
class JobsBody:
    """``{"data": [job, ...]}``: the answer of ``GET /async-jobs``, ``meta`` if it ever paginates."""

    data: list[AsyncJob]
    meta: Meta | None = None


@attrs.frozen
class ErrorBody:
    """``{"errors": ["message", ...]}``: every error answer (Conversio has no error codes)."""

    errors: list[str]


@attrs.frozen
class Unsubscribed:
    """What a mass unsubscribe did at once (HTTP 200): how many addresses left the list, how many
    could not, and why."""

    unsubscribed: int = 0
    failed: int = 0
    failed_reasons: list[str] = attrs.field(factory=list)


@attrs.frozen
class UnsubscribedBody:
    """``{"data": {"unsubscribed", "failed", "failedReasons"}}``."""

    data: Unsubscribed


@attrs.frozen
class UnsubscribeStarted:
    """A mass unsubscribe the service runs as an async job (HTTP 202): its id, under the key
    ``asyncJobId`` (not ``id``, as the export endpoints say)."""

    async_job_id: str


@attrs.frozen
class UnsubscribeStartedBody:
    """``{"data": {"asyncJobId"}}``."""

    data: UnsubscribeStarted


@attrs.frozen
class WebhookMeta:
    """The ``meta`` of a webhook call: which topic it is (``async-job/completed``)."""

    topic: str


@attrs.frozen
class WebhookData:
    """The ``data`` of an ``async-job/completed`` call: the job that ended (the rest is ignored: a
    call is a hint, and the job is polled to learn its end)."""

    async_job_id: str


@attrs.frozen
class Webhook:
    """``{"meta": {"topic", "ts"}, "data": {"asyncJobId", "userId", "kind", "status", ...}}``."""

    meta: WebhookMeta
    data: WebhookData


@attrs.frozen
class Subscription:
    """One of the shop's webhooks (``GET /webhooks``): which topic calls which endpoint."""

    id: str
    topic: str
    endpoint: str


@attrs.frozen
class SubscriptionsBody:
    """``{"data": [webhook, ...]}``: the answer of ``GET /webhooks``."""

    data: list[Subscription]


#: Reads Conversio's bodies into the models above (``converter.read(json, JobBody)``); the wire's
#: camelCase names (``startedAt``) are the models' snake_case fields, renamed by the core.
converter = wire_converter("camel")
