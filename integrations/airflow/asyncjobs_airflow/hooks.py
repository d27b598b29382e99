"""The connection type ``asyncjobs``: one provider account's settings, and the clients built from them.

A Connection of type ``asyncjobs`` holds:

* ``extra`` (JSON): ``{"provider": "convertapi", ...}``: the provider's name and its settings by
  name (those of :func:`asyncjobs.connect`, e.g. ``"client_id"`` for GroupDocs), and optionally
  ``"budget"`` (``"20/s"``: the account's request budget), ``"timeout"`` (seconds per request),
  ``"poll"`` (a :class:`asyncjobs.PollPolicy`'s fields) and ``"secret_setting"`` (which setting the
  password fills, when the provider has several secrets);
* ``host`` (optional): the base URL (the ``base_url`` setting);
* ``password``: the secret (ConvertAPI's ``secret``, GroupDocs' ``client_secret``, Conversio's
  ``api_key``...: the provider's first secret setting).

The secret is read in the process that connects (a worker, the triggerer) and goes nowhere else:
not in a log line (Airflow masks a connection's password, and asyncjobs redacts it), an XCom, a
trigger's serialized kwargs, a repr or a message.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

import asyncjobs
from asyncjobs import aio, errors

from . import UI_FIELDS

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = ["AsyncJobsHook"]

#: keys of a connection's extra that are arguments of asyncjobs.connect, not provider settings
_OPTIONS = ("provider", "budget", "timeout", "poll", "secret_setting")


class AsyncJobsHook(BaseHook):
    """Clients of one asyncjobs provider, from an Airflow Connection of type ``asyncjobs`` (or, with
    no connection id, from the environment, as ``asyncjobs.connect(provider)`` reads it).

    Args:
        asyncjobs_conn_id: the Connection's id; ``None`` reads the provider's settings from the
            environment (``CONVERTAPI_SECRET``...).
        provider: the provider's name; required without a connection, and when given with one it
            must match the connection's ``provider``.
    """

    conn_name_attr = "asyncjobs_conn_id"
    default_conn_name = "asyncjobs_default"
    conn_type = "asyncjobs"
    hook_name = "asyncjobs (async-job REST APIs)"

    def __init__(
        self, asyncjobs_conn_id: str | None = None, *, provider: str | None = None
    ) -> None:
        super().__init__()
        self.asyncjobs_conn_id = asyncjobs_conn_id
        self.provider = provider

    def __repr__(self) -> str:
        return f"<AsyncJobsHook conn_id={self.asyncjobs_conn_id!r} provider={self.provider!r}>"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form: which fields show, and what they are called."""
        return {key: value.copy() for key, value in UI_FIELDS.items()}

    # -- the arguments of asyncjobs.connect --------------------------------------------------------

    def connect_arguments(self) -> tuple[str, dict[str, Any]]:
        """The provider's name and the keyword arguments of :func:`asyncjobs.connect` (the secret
        among them: keep them in this process).

        Raises:
            ConfigurationError: no provider named, or the connection's extra is not a JSON object.
        """
        if self.asyncjobs_conn_id is None:
            return self._provider(None), {}
        conn = self.get_connection(self.asyncjobs_conn_id)
        return self._arguments(conn, conn.extra_dejson)

    async def aconnect_arguments(self) -> tuple[str, dict[str, Any]]:
        """:meth:`connect_arguments` from an event loop (the triggerer): the connection is read
        without blocking the loop."""
        if self.asyncjobs_conn_id is None:
            return self._provider(None), {}
        conn = await self.aget_connection(self.asyncjobs_conn_id)
        return self._arguments(conn, await conn.aextra_dejson())

    def get_conn(self) -> asyncjobs.Client:
        """A connected :class:`asyncjobs.Client` (close it when done: ``with hook.get_conn() as c``).

        Raises:
            ConfigurationError, UnknownProviderError: as :func:`asyncjobs.connect`.
        """
        provider, kwargs = self.connect_arguments()
        client: asyncjobs.Client = asyncjobs.connect(provider, **kwargs)
        return client

    async def aget_conn(self) -> aio.AsyncClient:
        """A connected :class:`asyncjobs.aio.AsyncClient` (``await client.aclose()`` when done)."""
        provider, kwargs = await self.aconnect_arguments()
        return await aio.connect(provider, **kwargs)

    # -- the connection's fields --------------------------------------------------------------------

    def _provider(self, named: object) -> str:
        provider = self.provider
        if named is not None and not isinstance(named, str):
            raise errors.ConfigurationError(
                f"connection {self.asyncjobs_conn_id!r}: extra.provider must be a provider's name "
                f"(a string), not {type(named).__name__}"
            )
        if provider and named and provider != named:
            raise errors.ConfigurationError(
                f"connection {self.asyncjobs_conn_id!r} is for provider {named!r}, not "
                f"{provider!r}: use a connection of {provider!r}, or leave provider out",
                provider=provider,
            )
        name = provider or named
        if not name:
            where = (
                f"the extra of connection {self.asyncjobs_conn_id!r}"
                if self.asyncjobs_conn_id
                else "provider="
            )
            raise errors.ConfigurationError(
                f'no asyncjobs provider named: set it in {where} (e.g. "convertapi"); installed: '
                f"{', '.join(asyncjobs.available_providers()) or 'none'}"
            )
        return str(name)

    def _arguments(self, conn: Connection, extra: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        if not isinstance(extra, Mapping):
            raise errors.ConfigurationError(
                f"connection {self.asyncjobs_conn_id!r}: extra must be a JSON object"
            )
        provider = self._provider(extra.get("provider"))
        kwargs: dict[str, Any] = {k: v for k, v in extra.items() if k not in _OPTIONS}
        if extra.get("budget") is not None:
            kwargs["budget"] = extra["budget"]
        if extra.get("timeout") is not None:
            kwargs["timeout"] = extra["timeout"]
        poll = extra.get("poll")
        if poll is not None:
            if not isinstance(poll, Mapping):
                raise errors.ConfigurationError(
                    f"connection {self.asyncjobs_conn_id!r}: extra.poll must be an object of "
                    "PollPolicy fields (initial, factor, cap, min_interval, fraction)",
                    provider=provider,
                )
            kwargs["poll"] = asyncjobs.PollPolicy(**poll)
        if conn.host:
            host = str(conn.host)
            if "://" not in host:  # a host name (and port) alone: HTTPS
                port = f":{conn.port}" if conn.port and ":" not in host else ""
                host = f"https://{host}{port}"
            kwargs.setdefault("base_url", host)
        if conn.password:
            kwargs[_secret_setting(provider, extra.get("secret_setting"))] = conn.password
        return provider, kwargs


def _secret_setting(provider: str, named: object) -> str:
    """The setting a connection's password fills: ``named`` (extra.secret_setting), else the
    provider's first secret setting (read from its class, found through the ``asyncjobs.providers``
    entry points), else ``"secret"``."""
    if isinstance(named, str) and named:
        return named
    return _first_secret(provider)


@functools.cache
def _first_secret(provider: str) -> str:
    """A provider's first secret setting (once per process: scanning the installed distributions'
    entry points takes milliseconds, and a triggerer asks for each of its triggers)."""
    for point in entry_points(group="asyncjobs.providers"):
        if point.name != provider:
            continue
        cls = point.load()
        for setting in getattr(cls, "settings", ()):
            if isinstance(setting, asyncjobs.Setting) and setting.secret:
                return setting.name
    return "secret"
