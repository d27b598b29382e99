"""Webhooks: a receiver that turns the services' calls into instant, verified wake-ups.

::

    from asyncjobs import webhooks

    receiver = webhooks.Receiver(public_url="https://hooks.example.com/asyncjobs", key=...)
    client = asyncjobs.connect("convertapi", webhooks=receiver)   # or ASYNCJOBS_WEBHOOK_URL / _KEY
    job = client.submit("convert", source="a.docx", to="pdf", webhook=True)
    job.wait()                                      # woken by the call; polled once to confirm

:class:`Receiver` is a plain WSGI application: mount it at ``public_url``'s path in Flask, Django,
or Starlette/FastAPI through a WSGI bridge, or run it with ``asyncjobs webhooks serve --listen
HOST:PORT --public-url URL`` (the ``webhooks`` extra: waitress). A call is a hint, never trusted:
it triggers one poll of the job, and only what the poll shows is recorded. Without calls, waits
fall back to polling. See ``docs/webhooks.md``.
"""

from __future__ import annotations

from ._results import WebhookRequest
from ._webhooks import MAX_BODY, MAX_ID_LENGTH, MAX_IDS_PER_CALL, MAX_QUEUED, Receiver

__all__ = [
    "MAX_BODY",
    "MAX_IDS_PER_CALL",
    "MAX_ID_LENGTH",
    "MAX_QUEUED",
    "Receiver",
    "WebhookRequest",
]
