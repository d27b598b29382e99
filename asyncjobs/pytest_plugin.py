"""pytest fixtures for testing an application that uses asyncjobs, against the providers' sandboxes.

Installed with ``asyncjobs-core`` (the ``pytest11`` entry point ``asyncjobs``), so every test suite
of a project that has asyncjobs installed can ask for them; nothing else happens in a pytest run
that does not: no autouse fixture, no command-line option, nothing printed, and nothing of
asyncjobs imported beyond ``import asyncjobs`` itself until a fixture is used. The sandboxes need
``werkzeug`` (the ``sandbox`` extra).

``asyncjobs_sandbox(provider, scale=1000)``
    starts the sandbox of an installed provider (a built-in one or a third party's) on 127.0.0.1
    and returns a :class:`RunningSandbox`: its ``url``, the client ``settings`` for it, its fault
    switches and clock, and ways to make jobs fail, never finish, or be rate-limited. Stopped at
    the end of the test.

``asyncjobs_client(provider_or_sandbox="convertapi", *, aio=False, **connect_kwargs)``
    a client connected to such a sandbox (started for it, or the one given), with a ledger of its
    own in the test's ``tmp_path`` and a fast poll policy (:data:`FAST_POLL`); with ``aio=True``
    an :class:`asyncjobs.aio.AsyncClient`. Closed at the end of the test.

::

    def test_the_report_is_converted(asyncjobs_client):
        client = asyncjobs_client("convertapi")
        job = client.submit("convert", source=b"%PDF-1.7 ...", from_="pdf", to="txt")
        assert job.result(timeout=10).files
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._client import Client
    from ._policies import PollPolicy
    from ._routing import Router
    from .aio import AsyncClient
    from .sandbox import Faults, JobClock, ProviderSandbox, SandboxApp

__all__ = [
    "DEFAULT_SCALE",
    "FAST_POLL",
    "ClientFactory",
    "RunningSandbox",
    "SandboxFactory",
    "asyncjobs_client",
    "asyncjobs_sandbox",
]

#: The sandboxes' default time scale in these fixtures: sandbox seconds per wall second (a
#: conversion of two service seconds takes two milliseconds).
DEFAULT_SCALE = 1000.0

#: The poll policy of :func:`asyncjobs_client`'s clients, as keyword arguments of
#: :class:`asyncjobs.PollPolicy`: a first look after 10 ms, then every 50 ms at most.
FAST_POLL = {"initial": 0.01, "factor": 1.5, "cap": 0.05, "min_interval": 0.005}


class RunningSandbox:
    """A provider's sandbox serving on 127.0.0.1 for one test (see :func:`asyncjobs_sandbox`).

    Attributes:
        name: the provider's name.
        url: the sandbox's base URL, e.g. ``http://127.0.0.1:50123``.
        settings: the keyword settings that connect a client to it
            (``asyncjobs.connect(name, **settings)``).
        app: the provider's :class:`asyncjobs.sandbox.SandboxApp` (its own switches and state, as
            its docstring describes them).
    """

    def __init__(self, served: ProviderSandbox) -> None:
        self._served = served
        self.name: str = served.name
        self.url: str = served.box.url
        self.settings: dict[str, str] = dict(served.settings)
        self.app: SandboxApp = served.box.app

    def __repr__(self) -> str:
        return f"<RunningSandbox {self.name} at {self.url}>"

    @property
    def faults(self) -> Faults:
        """The transport-level fault switches: ``status``, ``delay``, ``drop``, ``malformed``,
        ``truncate`` (see :class:`asyncjobs.sandbox.Faults`)."""
        return self.app.faults

    @property
    def clock(self) -> JobClock:
        """The sandbox's clock (:class:`asyncjobs.sandbox.JobClock`): ``advance(seconds)`` to move
        past an expiry, ``freeze()`` / ``resume()``."""
        return self.app.clock

    @property
    def scale(self) -> float:
        """Sandbox seconds per wall second."""
        return self.app.clock.scale

    @property
    def requests(self) -> list[tuple[str, str]]:
        """``(method, path)`` of every request the sandbox received, faults included."""
        return self.app.requests

    def env(self) -> dict[str, str]:
        """The settings as the provider's environment variables, for code that connects by
        itself (``monkeypatch.setenv`` each, or pass them to a child process)."""
        return self._served.env()

    def fail_next(self, times: int = 1) -> None:
        """Make the next ``times`` jobs submitted to this sandbox fail, as the service tells of a
        failed job (its own status, code and message): waiting for one raises
        :class:`~asyncjobs.errors.JobFailedError`.

        Raises:
            NotImplementedError: the provider's sandbox cannot (``fails_on_demand`` is false);
                its docstring names the inputs that fail.
        """
        self.app.fail_next(times)

    def freeze(self) -> None:
        """Stop the sandbox's clock: jobs, submitted before or after, stay pending (and nothing
        expires) until :meth:`resume`, so a wait with a timeout raises
        :class:`~asyncjobs.errors.JobTimeoutError`."""
        self.app.clock.freeze()

    def resume(self) -> None:
        """Let the sandbox's clock run again from where :meth:`freeze` stopped it."""
        self.app.clock.resume()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """:meth:`freeze` for the ``with`` block, then :meth:`resume`."""
        self.freeze()
        try:
            yield
        finally:
            self.resume()

    def rate_limit(
        self, times: int = 1, *, retry_after: int | None = 0, path: str | None = None
    ) -> None:
        """Answer the next ``times`` requests (whose path contains ``path``, if given) 429 Too
        Many Requests with ``Retry-After: retry_after`` seconds (``None``: no header) and the
        service's own error body. A client retries a few (its retry policy); more than it
        tries raise :class:`~asyncjobs.errors.RateLimitedError`."""
        self.app.rate_limit_next(times, retry_after=retry_after, path=path)

    def stop(self) -> None:
        """Stop serving (the fixture does it at the end of the test)."""
        self._served.stop()
        with contextlib.suppress(Exception):
            self.app.close()


class SandboxFactory:
    """What :func:`asyncjobs_sandbox` gives: call it with a provider's name."""

    def __init__(self) -> None:
        self._running: list[RunningSandbox] = []

    def __call__(self, provider: str, *, scale: float = DEFAULT_SCALE) -> RunningSandbox:
        """Start the sandbox of ``provider`` (any installed provider that ships one), ``scale``
        sandbox seconds per wall second, on 127.0.0.1 at a free port.

        Raises:
            UnknownProviderError: no such provider is installed. InvalidParameterError: it ships no
                sandbox, or a non-positive scale. ConfigurationError: its sandbox failed to import
                (is ``werkzeug``, the ``sandbox`` extra, installed?).
        """
        from .sandbox import serve_providers

        (served,) = serve_providers([provider], scale=scale)
        running = RunningSandbox(served)
        self._running.append(running)
        return running

    def stop_all(self) -> None:
        """Stop every sandbox this factory started (the fixture does it at the end of the test)."""
        for running in reversed(self._running):
            running.stop()
        self._running.clear()


class ClientFactory:
    """What :func:`asyncjobs_client` gives: call it with a provider's name or a running sandbox."""

    def __init__(self, sandboxes: SandboxFactory, tmp_path: Path) -> None:
        self._sandboxes = sandboxes
        self._tmp_path = tmp_path
        self._clients: list[Client | Router] = []
        self._count = itertools.count(1)

    def __call__(
        self,
        provider: str | RunningSandbox = "convertapi",
        *,
        aio: bool = False,
        scale: float = DEFAULT_SCALE,
        **connect_kwargs: Any,
    ) -> Any:
        """A client connected to ``provider``'s sandbox: one started now at ``scale`` (for a
        name), or the :class:`RunningSandbox` given.

        ``connect_kwargs`` go to :func:`asyncjobs.connect` and win over the defaults: the
        sandbox's settings, ``ledger`` (a SQLite file of its own in the test's ``tmp_path``) and
        ``poll`` (:data:`FAST_POLL`).

        Returns:
            An :class:`asyncjobs.Client`, or with ``aio=True`` an
            :class:`asyncjobs.aio.AsyncClient` (use it within the test's event loop).
        """
        import asyncjobs

        sandbox = self._sandboxes(provider, scale=scale) if isinstance(provider, str) else provider
        kwargs: dict[str, Any] = {
            **sandbox.settings,
            "ledger": self._tmp_path / f"asyncjobs-ledger-{next(self._count)}.sqlite3",
            "poll": fast_poll(),
            **connect_kwargs,
        }
        client = asyncjobs.connect(sandbox.name, **kwargs)
        self._clients.append(client)
        if not aio:
            return client
        from .aio import AsyncClient

        return AsyncClient(client, owns=True)

    def close_all(self) -> None:
        """Close every client this factory made (the fixture does it at the end of the test)."""
        for client in reversed(self._clients):
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()


def fast_poll() -> PollPolicy:
    """:data:`FAST_POLL` as an :class:`asyncjobs.PollPolicy`."""
    from ._policies import PollPolicy

    return PollPolicy(**FAST_POLL)


@pytest.fixture
def asyncjobs_sandbox() -> Iterator[Callable[..., RunningSandbox]]:
    """A factory of providers' sandboxes: ``asyncjobs_sandbox("convertapi", scale=1000)`` starts
    one on 127.0.0.1 and returns its :class:`RunningSandbox`; each is stopped at the end of the
    test."""
    factory = SandboxFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def asyncjobs_client(
    asyncjobs_sandbox: SandboxFactory, tmp_path: Path
) -> Iterator[Callable[..., Client | AsyncClient]]:
    """A factory of clients connected to sandboxes: ``asyncjobs_client("convertapi")`` (or a
    :class:`RunningSandbox` from :func:`asyncjobs_sandbox`; ``aio=True`` for an
    :class:`asyncjobs.aio.AsyncClient`), each with its own ledger in ``tmp_path`` and a fast poll
    policy; closed at the end of the test, before the sandboxes stop."""
    factory = ClientFactory(asyncjobs_sandbox, tmp_path)
    try:
        yield factory
    finally:
        factory.close_all()
