"""The web dashboard: the jobs of a ledger -- local or shared by a fleet -- as pages in a browser.

::

    from asyncjobs import dashboard

    app = dashboard.Dashboard(ledger=None, token=None)   # a WSGI app; read-only without a token

Serve it with ``asyncjobs dashboard [--ledger L] [--host H] [--port N] [--token T]`` (the
``dashboard`` extra: Jinja2, Werkzeug, waitress), or mount it in a Flask, Django or Starlette site
as the webhook receiver can be. Pages: ``/`` (jobs, filtered by query parameters such as
``?status=failed&provider=convertapi``), ``/jobs/<provider>/<id>``, ``/providers``, ``/fleet``;
beside them a JSON API for scripts. Cancelling and resubmitting need the token. See
``docs/dashboard.md``.
"""

from __future__ import annotations

from ._dashboard._app import Dashboard

__all__ = ["Dashboard"]
