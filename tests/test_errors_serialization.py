"""Every error travels between processes whole: through pickle, and through the JSON form an engine
stores (Celery's JSON results keep ``args`` and rebuild ``cls(*args)``), with its class, message and
attributes, and no secret."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import JobInfo, Status, errors

CANARY = "canary-Vb7q-Serialized-never-show"

INFO = JobInfo(
    provider="toy",
    id="job-1",
    kind="convert",
    status=Status.FAILED,
    raw_status="failed",
    error="the input is corrupt",
    submitted_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    meta={"retry_after": 3, "pages": [1, 2]},
)


def _every_error() -> list[errors.AsyncJobsError]:
    """One of each class, every attribute given a value other than its default."""
    return [
        errors.AsyncJobsError("base", provider="toy", job_id="j"),
        errors.ConfigurationError("no key", provider="toy"),
        errors.InvalidParameterError("bad to", parameter="to", provider="toy", job_id="j"),
        errors.UnknownProviderError("acme", ["toy", "conversio"]),
        errors.NotSupportedError("cannot cancel", provider="toy", job_id="j"),
        errors.ProviderError(
            "refused",
            provider="toy",
            job_id="j",
            status_code=422,
            code="E42",
            provider_message="no",
            request_id="req-1",
            invalid_parameters={"to": ["unknown format", "too long"]},
        ),
        errors.AuthenticationError("check the key", provider="toy", status_code=401),
        errors.RateLimitedError("slow down", retry_after=2.5, provider="toy", status_code=429),
        errors.JobNotFoundError("gone", provider="toy", job_id="j", status_code=404),
        errors.TransportError("reset", never_sent=True, provider="toy", job_id="j"),
        errors.RoutingError(
            "nobody took it",
            attempts=[
                ("toy", errors.AuthenticationError("key", provider="toy", status_code=403)),
                ("other", errors.TransportError("refused", never_sent=True, provider="other")),
            ],
            provider="toy",
        ),
        errors.JobFailedError(INFO),
        errors.JobTimeoutError("late", provider="toy", job_id="j", info=INFO),
        errors.LedgerError("disk full", provider="toy", job_id="j", info=INFO),
        errors.SaveError("exists", path="/tmp/out.pdf", errno=17, provider="toy", job_id="j"),
    ]


def _attributes(error: BaseException) -> dict[str, Any]:
    found = dict(vars(error))
    if isinstance(error, OSError):
        found.update(errno=error.errno, filename=error.filename)
    if "attempts" in found:
        found["attempts"] = [(n, type(e), _attributes(e)) for n, e in found["attempts"]]
    return found


def _via_json(error: errors.AsyncJobsError) -> errors.AsyncJobsError:
    """What Celery's JSON result serializer does: store ``args``, later ``cls(*args)``."""
    return type(error)(*json.loads(json.dumps(error.args)))


def _via_pickle(error: errors.AsyncJobsError) -> errors.AsyncJobsError:
    copy: errors.AsyncJobsError = pickle.loads(pickle.dumps(error))
    return copy


def test_every_error_class_is_covered() -> None:
    exported = {
        getattr(errors, name)
        for name in errors.__all__
        if inspect.isclass(getattr(errors, name))
        and issubclass(getattr(errors, name), errors.AsyncJobsError)
    }
    assert {type(e) for e in _every_error()} == exported


@pytest.mark.parametrize("travel", [_via_json, _via_pickle], ids=["json", "pickle"])
@pytest.mark.parametrize("error", _every_error(), ids=lambda e: type(e).__name__)
def test_an_error_comes_back_the_same_class_message_and_attributes(
    error: errors.AsyncJobsError, travel: Any
) -> None:
    back = travel(error)
    assert type(back) is type(error)
    assert str(back) == str(error)
    assert repr(back) == repr(error)
    assert _attributes(back) == _attributes(error)


def test_a_job_failed_error_keeps_its_job_info_whole() -> None:
    back = _via_json(errors.JobFailedError(INFO))
    assert isinstance(back, errors.JobFailedError)
    assert back.info == INFO
    assert (back.provider, back.job_id) == ("toy", "job-1")
    assert back.info.meta["pages"] == [1, 2]


def test_the_json_form_is_the_message_then_the_attributes() -> None:
    error = errors.TransportError("reset", never_sent=True, provider="toy")
    message, fields = error.args
    assert message == "reset"
    assert fields[errors.STATE]["never_sent"] is True
    json.dumps(error.args)  # JSON-safe as it is


def test_an_attribute_set_after_the_error_was_made_travels_too() -> None:
    error = errors.TransportError("the answer was lost", provider="toy")
    error.job_id = "chosen-id"  # as the client does for a client-chosen id
    assert _via_json(error).job_id == "chosen-id"
    assert _via_pickle(error).job_id == "chosen-id"


def test_a_plugins_own_error_class_travels_too() -> None:
    class QuotaError(errors.ProviderError):
        def __init__(self, plan: str, *, used: int) -> None:
            super().__init__(f"quota of plan {plan} used up", provider="toy")
            self.plan = plan
            self.used = used

    back = type(error := QuotaError("basic", used=7))(*json.loads(json.dumps(error.args)))
    assert (type(back), back.plan, back.used, str(back)) == (
        QuotaError,
        "basic",
        7,
        "quota of plan basic used up",
    )


def test_no_secret_travels_in_either_form(
    toy_registered: type[ToyProvider], tmp_path: Path
) -> None:
    with asyncjobs.connect(
        "toy", key=CANARY, base_url="https://toy.example.test", ledger=tmp_path / "l.sqlite3"
    ):
        made = [
            errors.ProviderError(
                f"answer echoed {CANARY}",
                provider="toy",
                provider_message=f"key {CANARY}",
                request_id=CANARY,
                invalid_parameters={"key": [CANARY]},
            ),
            errors.JobFailedError(INFO),
            errors.TransportError(f"header {CANARY}", provider="toy"),
        ]
        for error in made:
            assert CANARY not in json.dumps(error.args)
            assert CANARY.encode() not in pickle.dumps(error)
            for back in (_via_json(error), _via_pickle(error)):
                assert CANARY not in f"{back} {back!r} {_attributes(back)}"


def test_a_new_process_rebuilds_a_job_failed_error_from_its_json_alone() -> None:
    """Nothing but ``asyncjobs.errors`` imported there: the JobInfo's class is found by name."""
    code = (
        "import json, sys\n"
        "from asyncjobs import errors\n"
        "error = errors.JobFailedError(*json.loads(sys.stdin.read()))\n"
        "print(type(error.info).__name__, error.info.status.value, error.info.submitted_at.year)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(errors.JobFailedError(INFO).args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["JobInfo", "failed", "2025"]


def test_rebuilding_sets_public_attributes_only_whatever_the_data_says() -> None:
    from asyncjobs.errors import STATE, AsyncJobsError

    error = AsyncJobsError(
        "m", {STATE: {"__class__": "x", "_secret": 1, "not an id": 2, "provider": "p"}}
    )
    assert type(error) is AsyncJobsError
    assert error.provider == "p"
    assert not hasattr(error, "_secret")


def test_rebuilding_makes_no_object_of_a_class_outside_asyncjobs() -> None:
    import attrs as attrs_module  # noqa: F401  (imported: its classes are in sys.modules)

    from asyncjobs.errors import STATE, AsyncJobsError

    data = {"$attrs": ["decimal", "Decimal", {}]}
    error = AsyncJobsError("m", {STATE: {"info": data}})
    assert error.info == {}  # the fields, as data: no object made
