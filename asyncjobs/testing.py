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
import contextlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeAlias
from urllib.parse import quote, quote_plus, urlsplit

import attrs
import pytest
import requests

from . import aio
from ._budget import Budget
from ._client import Client
from ._formats import Formats, is_format_name
from ._job import Job
from ._models import JobInfo, Status
from .errors import (
    AsyncJobsError,
    InvalidParameterError,
    JobFailedError,
    JobNotFoundError,
    NotSupportedError,
)

__all__ = ["Content", "JobCase", "ProviderConformance", "isolated_home"]

#: What a result file's bytes are checked against: the exact bytes, a pattern searched in them, or
#: a predicate given them.
Content: TypeAlias = "bytes | re.Pattern[bytes] | Callable[[bytes], bool]"


@attrs.frozen
class JobCase:
    """A job to submit in the conformance tests.

    Attributes:
        kind: the job kind.
        params: its parameters (a fresh copy is used for every submit).
        files: the result files expected, one expectation a file (no file more, none fewer):
            either a mapping of name to :data:`Content` -- the name exact, or a compiled pattern
            the whole name matches (for a provider that names files after job ids) -- or a
            sequence of :data:`Content`, files matched by content alone, in any order. Content
            is the exact bytes, a ``re.Pattern[bytes]`` found in them, or a predicate given
            them. ``None`` checks only that at least one file downloads and is not empty.
        error: a piece of text expected in a failed job's ``error`` (the provider's message).

    ::

        JobCase("convert", params, files={"file.pdf": b"%PDF-1.7 ..."})  # names and exact bytes
        JobCase("export", params, files={re.compile(r"[0-9a-f]{24}\\.csv"): b"email\\n"})
        JobCase("convert", params, files=[re.compile(rb"^%PDF-"), lambda data: len(data) > 100])
    """

    kind: str
    params: Mapping[str, Any]
    files: Mapping[str | re.Pattern[str], Content] | Sequence[Content] | None = None
    error: str | None = None

    def mismatch(self, contents: Mapping[str, bytes]) -> str | None:
        """Why the downloaded ``contents`` (file name to bytes) do not meet :attr:`files`, or
        ``None`` when they do (each expectation met by a file of its own, and no file left)."""
        return _mismatch(self.files, contents)


class ProviderConformance:
    """The job contract, checked over real HTTP.

    The short way declares the provider and two cases; the kit serves the provider's own sandbox
    (its ``Provider.sandbox``) on 127.0.0.1 and connects a client with quick polls::

        class TestAcmeConformance(ProviderConformance):
            provider = "acme"
            success = JobCase("convert", {"source": b"hi", "from_": "txt", "to": "pdf"})
            failure = JobCase("convert", {"source": b"corrupt", "from_": "txt", "to": "pdf"},
                              error="corrupt")

    The long way overrides the ``client``, ``success_case`` and ``failure_case`` fixtures (and
    ``sandbox_app``, ``unknown_job_id``) for set-ups the short way does not cover.
    """

    #: seconds any one job may take in the sandbox
    timeout: ClassVar[float] = 30.0
    #: the provider's registered name: the kit serves its sandbox and connects a client to it
    provider: ClassVar[str | None] = None
    #: keyword arguments of the sandbox app (the time scale is 1000 unless given)
    sandbox_options: ClassVar[Mapping[str, Any]] = {}
    #: extra keyword arguments of ``asyncjobs.connect`` (settings such as ``protocol=``)
    client_options: ClassVar[Mapping[str, Any]] = {}
    #: the job that succeeds, and the job that the service runs and then fails
    success: ClassVar[JobCase | None] = None
    failure: ClassVar[JobCase | None] = None
    #: a well-formed id that the service does not know
    unknown_id: ClassVar[str] = "0123456789abcdef0123456789abcdef"

    @pytest.fixture(autouse=True)
    def _asyncjobs_home(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ASYNCJOBS_HOME", str(tmp_path / "asyncjobs-home"))

    @pytest.fixture
    def sandbox_app(self, tmp_path: Path) -> Any:
        """The sandbox app behind ``client`` (its ``requests`` log proves "before any request"):
        the declared provider's own sandbox (one that keeps files gets ``root=`` in the test's
        temporary folder), or ``None`` (which skips those request counts)."""
        if self.provider is None:
            return None
        from ._registry import get_provider_class

        spec = get_provider_class(self.provider).sandbox
        if spec is None:
            raise NotImplementedError(f"{self.provider} declares no sandbox: override client")
        module, _, name = spec.partition(":")
        app_class = getattr(__import__(module, fromlist=[name]), name)
        options: dict[str, Any] = {"scale": 1000.0, **self.sandbox_options}
        if "root" in inspect.signature(app_class).parameters:
            options.setdefault("root", tmp_path / "sandbox-files")
        return app_class(**options)

    @pytest.fixture
    def client(self, sandbox_app: Any, tmp_path: Path) -> Iterator[Client]:
        """A client of the declared provider's sandbox, served on 127.0.0.1 (or override)."""
        if self.provider is None or sandbox_app is None:
            raise NotImplementedError("declare provider, or override the client fixture")
        from . import _client
        from ._policies import PollPolicy, RetryPolicy
        from .sandbox import Sandbox

        with Sandbox(sandbox_app) as box:
            options = {
                "ledger": tmp_path / "conformance-ledger.sqlite3",
                "poll": PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005),
                "retry": RetryPolicy(max_tries=3, base=0.001, cap=0.01, max_time=5),
                **box.app.client_settings(box.url),
                **self.client_options,
            }
            with _client.connect(self.provider, **options) as client:
                yield client
        with contextlib.suppress(Exception):
            sandbox_app.close()

    @pytest.fixture
    def success_case(self) -> JobCase:
        """A job that succeeds (declare ``success``, or override)."""
        if self.success is None:
            raise NotImplementedError("declare success, or override the success_case fixture")
        return self.success

    @pytest.fixture
    def failure_case(self) -> JobCase:
        """A job that the service runs and then fails (declare ``failure``, or override)."""
        if self.failure is None:
            raise NotImplementedError("declare failure, or override the failure_case fixture")
        return self.failure

    @pytest.fixture
    def unknown_job_id(self) -> str:
        """A well-formed id that the service does not know (declare ``unknown_id``)."""
        return self.unknown_id

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

    def test_a_done_job_says_its_cost_in_the_declared_unit(
        self, client: Client, success_case: JobCase
    ) -> None:
        """A provider that declares ``Capabilities.cost_unit`` reports ``JobInfo.cost`` in it on
        every done job, in the look and in the ledger; one that declares none reports none."""
        job = self._submit(client, success_case)
        info = job.wait(timeout=self.timeout, progress=False)
        unit = client.provider.capabilities.cost_unit
        if unit is None:
            assert info.cost is None, f"{client.name} reports a cost but declares no cost_unit"
            return
        assert info.cost is not None, f"{client.name} declares cost_unit but reported no cost"
        assert info.cost.unit == unit
        assert client.ledger is not None
        entry = client.ledger.get(client.name, job.id)
        assert entry is not None
        assert entry.info is not None
        assert entry.info.cost == info.cost

    def test_a_declared_budget_is_a_budget_that_reads_back(self, client: Client) -> None:
        """``Capabilities.budget`` is ``None`` (the service publishes no limit) or a
        :class:`~asyncjobs.Budget` whose text reads back as itself (``asyncjobs providers``
        shows it)."""
        budget = client.provider.capabilities.budget
        if budget is None:
            return
        assert isinstance(budget, Budget)
        assert Budget.parse(str(budget)) == budget

    def test_declared_formats_are_a_table_of_format_names(self, client: Client) -> None:
        """``Provider.formats()`` is ``None`` or a :class:`~asyncjobs.Formats` of lower-case
        format names that says where it comes from; a provider with formats has the kind
        ``"convert"``."""
        table = type(client.provider).formats()
        if table is None:
            return
        assert isinstance(table, Formats)
        assert table.source.strip(), "say where the format list comes from (Formats.source)"
        assert len(table) > 0
        for source, target in table.pairs():
            assert is_format_name(source), source
            assert source == source.lower(), source
            assert is_format_name(target), target
            assert target == target.lower(), target
        assert any(k.name == "convert" for k in client.provider.kinds)

    def test_a_conversion_outside_a_complete_format_list_is_refused_before_any_request(
        self, client: Client, success_case: JobCase
    ) -> None:
        table = type(client.provider).formats()
        if table is None or not table.complete or success_case.kind != "convert":
            return
        params = {**dict(success_case.params), "to": "asyncjobsnosuchformat"}
        sent = client.ledger.count() if client.ledger is not None else 0
        with pytest.raises(NotSupportedError):
            client.submit("convert", **params)
        assert (client.ledger.count() if client.ledger is not None else 0) == sent

    def test_result_files_download_with_the_right_bytes(
        self, client: Client, success_case: JobCase, tmp_path: Path
    ) -> None:
        job = self._submit(client, success_case)
        result = job.result(timeout=self.timeout)
        assert result.files, "a done job has at least one result file"
        saved = result.save(tmp_path / "out")
        contents = {p.name: p.read_bytes() for p in saved}
        _assert_files(success_case, contents)

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
        _assert_files(success_case, contents)

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

    def test_no_secret_setting_appears_in_any_url(
        self, client: Client, success_case: JobCase, unknown_job_id: str, tmp_path: Path
    ) -> None:
        with _sent(client) as sent:
            job = self._submit(client, success_case)
            job.result(timeout=self.timeout).save(tmp_path / "out")
            with contextlib.suppress(JobNotFoundError):
                client.status(unknown_job_id)
            if client.provider.capabilities.list:
                client.list()
            if client.provider.capabilities.cancel:
                with contextlib.suppress(AsyncJobsError):  # (a finished job may refuse)
                    self._submit(client, success_case).cancel()
        secrets = _secrets(client)
        assert secrets, "the client fixture must be configured with its secret settings"
        assert sent, "no request was seen on the client's transport"
        leaks = [_mask(str(r.url), secrets) for r in sent if _carries(str(r.url), secrets)]
        assert leaks == [], "a secret setting's value went into a URL (send it in a header)"

    def test_a_webhook_call_from_the_sandbox_is_verified_by_the_receiver(
        self, client: Client, success_case: JobCase, sandbox_app: Any
    ) -> None:
        """For a provider without webhooks: ``submit(webhook=True)`` raises NotSupportedError and
        sends nothing. For a provider that declares webhooks: ``submit(webhook=True)`` makes its sandbox call
        the core's receiver (served on 127.0.0.1), which reads the call with the provider's
        ``read_webhook`` and verifies its token (answered 200), and the job ends done. A sandbox
        of a service whose webhook is set per account (``account_webhook``) takes that URL as its
        ``webhook`` attribute; its calls are recorded in ``sandbox_app.webhooks.made``."""
        import time

        from ._webhooks import Receiver
        from .sandbox import Sandbox

        caps = client.provider.capabilities
        if not caps.webhooks:  # then webhook=True is refused, before anything is sent
            with _sent(client) as sent, pytest.raises(NotSupportedError):
                client.submit(success_case.kind, **dict(success_case.params), webhook=True)
            assert sent == [], "webhook=True on a provider without webhooks sent a request"
            return
        made = getattr(getattr(sandbox_app, "webhooks", None), "made", None)
        assert made is not None, (
            f"{client.name} declares webhooks, so its sandbox must call them as the service does "
            "and record the calls (sandbox_app.webhooks.made: use SandboxApp.webhooks)"
        )
        holder: dict[str, Any] = {}
        with Sandbox(lambda env, start: holder["app"](env, start)) as box:
            receiver = holder["app"] = Receiver(box.url + "/hooks", "conformance-kit-webhook-key")
            if caps.account_webhook:
                assert hasattr(sandbox_app, "webhook"), (
                    "a sandbox of an account-level webhook takes the account's URL as its "
                    "webhook attribute"
                )
                sandbox_app.webhook = receiver.url_for(client.name)
            client.webhooks = receiver
            receiver.attach(client)
            try:
                job = client.submit(success_case.kind, **dict(success_case.params), webhook=True)
                assert job.wait(timeout=self.timeout).status is Status.DONE
                end = time.monotonic() + self.timeout
                while not made and time.monotonic() < end:
                    time.sleep(0.01)
                outcomes = [outcome for _, _, outcome in made]
                assert outcomes, "the sandbox made no webhook call for a job submitted with one"
                assert "200" in outcomes, (
                    f"the receiver refused every call ({outcomes}): read_webhook must return the "
                    "job's id from the service's call"
                )
            finally:
                receiver.detach(client)
                client.webhooks = None
                receiver.close()
                if caps.account_webhook:
                    sandbox_app.webhook = None

    def test_result_downloads_carry_credentials_only_to_the_plugins_own_origin(
        self, client: Client, success_case: JobCase
    ) -> None:
        result = self._submit(client, success_case).result(timeout=self.timeout)
        assert result.files, "a done job has at least one result file"
        with _serve_foreign() as (foreign, seen):
            for file in result.files:
                moved = attrs.evolve(file, url=f"{foreign}/elsewhere/{quote(file.name)}")
                with contextlib.suppress(AsyncJobsError), client.provider.open_file(moved) as f:
                    f.read()
        secrets = _secrets(client)
        for url, headers in seen:
            sent = {k.lower(): v for k, v in headers.items()}
            named = sorted({"authorization", "proxy-authorization", "cookie"} & set(sent))
            assert named == [], f"a download from another origin carried {', '.join(named)}"
            leaked = [k for k, v in sent.items() if _carries(v, secrets)]
            assert leaked == [], f"a download from another origin carried a secret in {leaked}"
            assert not _carries(url, secrets), (
                "a download from another origin had a secret in its URL"
            )


def _assert_files(case: JobCase, contents: dict[str, bytes]) -> None:
    """The downloaded files meet the case's expectations (exact names and bytes compare as dicts,
    for pytest's diff)."""
    files = case.files
    if isinstance(files, Mapping) and all(
        isinstance(k, str) and isinstance(v, bytes) for k, v in files.items()
    ):
        assert contents == dict(files)
        return
    why = case.mismatch(contents)
    assert why is None, why


def _content_ok(expected: Content, data: bytes) -> bool:
    if isinstance(expected, bytes):
        return data == expected
    if isinstance(expected, re.Pattern):
        return expected.search(data) is not None
    return bool(expected(data))


def _name_ok(expected: str | re.Pattern[str] | None, name: str) -> bool:
    if expected is None:
        return True
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(name) is not None
    return name == expected


def _mismatch(
    files: Mapping[str | re.Pattern[str], Content] | Sequence[Content] | None,
    contents: Mapping[str, bytes],
) -> str | None:
    if files is None:
        if not contents:
            return "no result file downloaded"
        empty = sorted(name for name, data in contents.items() if not data)
        return f"empty result files: {empty}" if empty else None
    given: object = files
    if isinstance(given, (bytes, str)):
        raise TypeError("JobCase.files is a mapping or a sequence of expectations, not one")
    wanted: list[tuple[str | re.Pattern[str] | None, Content]] = (
        list(files.items()) if isinstance(files, Mapping) else [(None, c) for c in files]
    )
    names = sorted(contents)
    if len(names) != len(wanted):
        return f"{len(wanted)} result files expected, {len(names)} downloaded: {names}"
    fits = [
        [i for i, name in enumerate(names) if _name_ok(n, name) and _content_ok(c, contents[name])]
        for n, c in wanted
    ]
    owner: dict[int, int] = {}  # file index -> expectation index: a one-to-one matching

    def place(e: int, seen: set[int]) -> bool:
        for f in fits[e]:
            if f not in seen:
                seen.add(f)
                if f not in owner or place(owner[f], seen):
                    owner[f] = e
                    return True
        return False

    unmet = [wanted[e][0] or f"file {e + 1}" for e in range(len(wanted)) if not place(e, set())]
    if unmet:
        return f"no downloaded file meets the expectation of {unmet} (downloaded: {names})"
    return None


def _requests(app: Any) -> list[Any]:
    return list(getattr(app, "requests", [])) if app is not None else []


def _secrets(client: Client) -> list[str]:
    """The values of the client's secret settings, and the secrets its transport learned since (an
    OAuth token), each at least 4 characters."""
    learned = getattr(client.provider.transport.redactor, "_secrets", ())
    return [s for s in {*client.provider.config.secrets, *learned} if len(s) >= 4]


def _carries(text: str, secrets: list[str]) -> bool:
    """Whether ``text`` holds one of ``secrets``, as it is or URL-encoded."""
    return any(form in text for s in secrets for form in {s, quote(s, safe=""), quote_plus(s)})


def _mask(text: str, secrets: list[str]) -> str:
    for s in secrets:
        for form in {s, quote(s, safe=""), quote_plus(s)}:
            text = text.replace(form, "***")
    return text


@contextlib.contextmanager
def _sent(client: Client) -> Iterator[list[requests.PreparedRequest]]:
    """Every request the client's transport sends meanwhile (each redirect hop too)."""
    sent: list[requests.PreparedRequest] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append(response.request)

    hooks = client.provider.transport.session.hooks.setdefault("response", [])
    hooks.append(record)
    try:
        yield sent
    finally:
        hooks.remove(record)


@contextlib.contextmanager
def _serve_foreign() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """A server on 127.0.0.1 at another port (so another origin) that records what reaches it."""
    from .sandbox import Sandbox

    seen: list[tuple[str, dict[str, str]]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        headers = {
            k[5:].replace("_", "-").title(): str(v)
            for k, v in environ.items()
            if k.startswith("HTTP_")
        }
        query = environ.get("QUERY_STRING", "")
        seen.append((environ.get("PATH_INFO", "") + (f"?{query}" if query else ""), headers))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [b"not the plugin's origin"]

    with Sandbox(app) as box:
        assert urlsplit(box.url).port is not None
        yield box.url, seen


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ``ASYNCJOBS_HOME`` (and no progress bars): nothing is written outside
    the test's temporary folder. Import it into a plugin's ``conftest.py`` to apply it to all of the
    plugin's tests."""
    home = tmp_path / "asyncjobs-home"
    monkeypatch.setenv("ASYNCJOBS_HOME", str(home))
    monkeypatch.setenv("ASYNCJOBS_PROGRESS", "0")
    return home
