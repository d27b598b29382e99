"""The conformance kit: a pytest base class that checks a provider against the whole job contract over
real HTTP, usually against the provider's sandbox, through the sync API and through
:mod:`asyncjobs.aio` (each ``test_aio_*`` check runs its own event loop over the same client).

Subclass :class:`ProviderConformance` in a test module and override three fixtures::

    from asyncjobs.testing import JobCase, ProviderConformance

    class TestAcmeConformance(ProviderConformance):
        @pytest.fixture
        def client(self, tmp_path):
            with serve(AcmeSandbox(scale=100)) as box:   # your sandbox on 127.0.0.1
                with asyncjobs.connect("acme", ledger=tmp_path / "l.db", **box.app.client_settings(box.url)) as c:
                    yield c

        @pytest.fixture
        def success_case(self):
            return JobCase("convert", {"source": b"hello", "from_": "txt", "to": "pdf"},
                           files={"file.pdf": b"..."})

        @pytest.fixture
        def failure_case(self):
            return JobCase("convert", {"source": b"corrupt", "from_": "txt", "to": "pdf"},
                           error="corrupt")

This module needs pytest; it is imported only by tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from . import aio
from .client import Client
from .errors import InvalidParameterError, JobFailedError, JobNotFoundError, NotSupportedError
from .handles import Job
from .models import JobInfo, Status

__all__ = ["JobCase", "ProviderConformance"]


@attrs.frozen
class JobCase:
    """A job to submit in the conformance tests.

    Attributes:
        kind: the job kind.
        params: its parameters (a fresh copy is used for every submit).
        files: the result files expected, name to exact bytes; ``None`` checks only that at least one
            file downloads and is not empty.
        error: a piece of text expected in a failed job's ``error`` (the provider's message).
    """

    kind: str
    params: Mapping[str, Any]
    files: Mapping[str, bytes] | None = None
    error: str | None = None


class ProviderConformance:
    """The job contract, checked over real HTTP. Override ``client``, ``success_case`` and
    ``failure_case``; optionally ``unknown_job_id`` and ``timeout``."""

    #: seconds any one job may take in the sandbox
    timeout: ClassVar[float] = 30.0

    @pytest.fixture(autouse=True)
    def _asyncjobs_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ASYNCJOBS_HOME", str(tmp_path / "asyncjobs-home"))

    @pytest.fixture
    def client(self) -> Iterator[Client]:
        """A client connected to a running sandbox (override)."""
        raise NotImplementedError("override the client fixture")

    @pytest.fixture
    def success_case(self) -> JobCase:
        """A job that succeeds (override)."""
        raise NotImplementedError("override the success_case fixture")

    @pytest.fixture
    def failure_case(self) -> JobCase:
        """A job that the service runs and then fails (override)."""
        raise NotImplementedError("override the failure_case fixture")

    @pytest.fixture
    def sandbox_app(self) -> Any:
        """The sandbox app behind ``client`` (its ``requests`` log proves "before any request");
        override to return it. ``None`` skips those request counts."""
        return None

    @pytest.fixture
    def unknown_job_id(self) -> str:
        """A well-formed id that the service does not know."""
        return "0123456789abcdef0123456789abcdef"

    def _submit(self, client: Client, case: JobCase) -> Job:
        return client.submit(case.kind, **dict(case.params))

    # -- the contract -----------------------------------------------------------------------------

    def test_submit_returns_a_pending_job(self, client: Client, success_case: JobCase) -> None:
        job = self._submit(client, success_case)
        assert job.info is not None
        # normally pending; a provider that answers some submits with the finished result (e.g.
        # ConvertAPI's semi-async conversions) may return the job done at once
        assert job.info.status in (Status.PENDING, Status.DONE)
        assert job.provider == client.name
        assert job.kind == success_case.kind

    def test_submitted_job_is_in_the_ledger(self, client: Client, success_case: JobCase) -> None:
        job = self._submit(client, success_case)
        assert client.ledger is not None, "the client fixture must keep a ledger"
        entry = client.ledger.get(client.name, job.id)
        assert entry is not None
        assert entry.kind == success_case.kind

    def test_job_reaches_done(self, client: Client, success_case: JobCase) -> None:
        job = self._submit(client, success_case)
        info = job.wait(timeout=self.timeout, progress=False)
        assert info.status is Status.DONE, info
        assert job.done()

    def test_result_files_download_with_the_right_bytes(
        self, client: Client, success_case: JobCase, tmp_path: Path
    ) -> None:
        job = self._submit(client, success_case)
        result = job.result(timeout=self.timeout)
        assert result.files, "a done job has at least one result file"
        saved = result.save(tmp_path / "out")
        contents = {p.name: p.read_bytes() for p in saved}
        if success_case.files is not None:
            assert contents == dict(success_case.files)
        else:
            assert all(contents.values())

    def test_failing_job_ends_failed_with_the_providers_message(
        self, client: Client, failure_case: JobCase
    ) -> None:
        job = self._submit(client, failure_case)
        info = job.wait(timeout=self.timeout, progress=False)
        assert info.status is Status.FAILED
        assert info.error, "a failed job carries the provider's explanation"
        if failure_case.error:
            assert failure_case.error.lower() in info.error.lower()

    def test_result_of_a_failed_job_raises_job_failed(
        self, client: Client, failure_case: JobCase
    ) -> None:
        job = self._submit(client, failure_case)
        with pytest.raises(JobFailedError) as caught:
            job.result(timeout=self.timeout)
        assert caught.value.info.status is Status.FAILED
        assert job.id in str(caught.value)

    def test_unknown_job_id_raises_job_not_found(self, client: Client, unknown_job_id: str) -> None:
        with pytest.raises(JobNotFoundError) as caught:
            client.status(unknown_job_id)
        assert caught.value.provider == client.name

    def test_cancel_works_or_says_not_supported(
        self, client: Client, success_case: JobCase, sandbox_app: Any
    ) -> None:
        job = self._submit(client, success_case)
        if client.provider.capabilities.cancel:
            job.cancel()
        else:
            sent = len(_requests(sandbox_app))
            with pytest.raises(NotSupportedError):
                job.cancel()
            assert len(_requests(sandbox_app)) == sent, "NotSupportedError comes before any request"

    def test_list_contains_the_submitted_jobs(self, client: Client, success_case: JobCase) -> None:
        jobs = [self._submit(client, success_case) for _ in range(2)]
        listed = {j.id for j in client.list()}
        assert {j.id for j in jobs} <= listed

    def test_only_normalized_statuses_are_seen(
        self, client: Client, success_case: JobCase, failure_case: JobCase
    ) -> None:
        seen: list[JobInfo] = []
        for case in (success_case, failure_case):
            self._submit(client, case).wait(timeout=self.timeout, progress=seen.append)
        assert seen
        assert {i.status for i in seen} <= set(Status)
        assert all(type(i.status) is Status for i in seen)

    # -- the same contract under asyncio (asyncjobs.aio over the same client) ----------------------

    def test_aio_job_reaches_done_and_its_files_download(
        self, client: Client, success_case: JobCase, tmp_path: Path
    ) -> None:
        async def main() -> list[Path]:
            job = await aio.AsyncClient(client).submit(
                success_case.kind, **dict(success_case.params)
            )
            info = await job.wait(timeout=self.timeout, progress=False)
            assert info.status is Status.DONE, info
            return await job.save(tmp_path / "aio-out", timeout=self.timeout)

        contents = {p.name: p.read_bytes() for p in asyncio.run(main())}
        if success_case.files is not None:
            assert contents == dict(success_case.files)
        else:
            assert contents
            assert all(contents.values())

    def test_aio_awaiting_a_failed_job_raises_job_failed(
        self, client: Client, failure_case: JobCase
    ) -> None:
        async def main() -> None:
            job = await aio.AsyncClient(client).submit(
                failure_case.kind, **dict(failure_case.params)
            )
            with pytest.raises(JobFailedError) as caught:
                await asyncio.wait_for(job.result(), self.timeout)
            assert caught.value.info.status is Status.FAILED
            if failure_case.error:
                assert failure_case.error.lower() in (caught.value.info.error or "").lower()

        asyncio.run(main())

    def test_aio_wait_over_jobs_ends_with_every_job_finished(
        self, client: Client, success_case: JobCase, failure_case: JobCase
    ) -> None:
        async def main() -> None:
            async_client = aio.AsyncClient(client)
            jobs = [
                await async_client.submit(case.kind, **dict(case.params))
                for case in (success_case, failure_case)
            ]
            done, not_done = await aio.wait(jobs, timeout=self.timeout, progress=False)
            assert not not_done
            assert [j.info.status if j.info else None for j in jobs] == [
                Status.DONE,
                Status.FAILED,
            ]
            assert all(j.error is None for j in done)

        asyncio.run(main())

    def test_aio_unknown_job_id_raises_job_not_found(
        self, client: Client, unknown_job_id: str
    ) -> None:
        async def main() -> None:
            with pytest.raises(JobNotFoundError):
                await aio.AsyncClient(client).job(unknown_job_id).status()

        asyncio.run(main())

    def test_unknown_kind_is_refused_before_any_request(
        self, client: Client, sandbox_app: Any
    ) -> None:
        sent = len(_requests(sandbox_app))
        with pytest.raises(InvalidParameterError):
            client.submit("no-such-kind-of-job")
        assert len(_requests(sandbox_app)) == sent


def _requests(app: Any) -> list[Any]:
    return list(getattr(app, "requests", [])) if app is not None else []
