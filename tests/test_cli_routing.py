"""The command line over several providers: a comma-separated PROVIDER, and the verbs ``formats``,
``usage`` and ``resubmit``; run as ``python -m asyncjobs`` against the ConvertAPI and GroupDocs
sandboxes on 127.0.0.1 (each provider's settings in its environment variables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from asyncjobs._registry import get_provider_class

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _faults_off(no_faults: None) -> None:
    """Every test here leaves the sandboxes' fault switches off."""


@pytest.fixture
def cli(boxes: dict[str, Any], asyncjobs_home: Path, tmp_path: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCJOBS_")}
    env.update(ASYNCJOBS_HOME=str(asyncjobs_home), ASYNCJOBS_PROGRESS="0")
    for r in boxes.values():
        for setting in get_provider_class(r.name).settings:
            if setting.env and setting.name in r.settings:
                env[setting.env] = r.settings[setting.name]
    (tmp_path / "report.docx").write_bytes(b"a document")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "asyncjobs", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )

    return run


def _submit(cli: Run, providers: str = "convertapi,groupdocs") -> tuple[str, str]:
    proc = cli("--json", "submit", providers, "convert", "source=report.docx", "to=pdf")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    return doc["provider"], doc["id"]


def test_submit_to_a_list_falls_back_and_says_who_took_the_job(
    cli: Run, boxes: dict[str, Any]
) -> None:
    boxes["convertapi"].box.app.faults.status(401, path="/convert/")

    proc = cli("submit", "convertapi,groupdocs", "convert", "source=report.docx", "to=pdf")

    assert proc.returncode == 0, proc.stderr
    assert "at groupdocs" in proc.stderr
    assert proc.stdout.strip()


def test_settings_are_refused_with_a_list_naming_the_flag(cli: Run) -> None:
    proc = cli(
        "submit", "convertapi,groupdocs", "convert", "source=report.docx", "to=pdf",
        "--set", "secret=x",
    )  # fmt: skip

    assert proc.returncode == 2
    assert "--set" in proc.stderr


def test_a_job_verb_finds_the_jobs_provider_of_a_list_in_the_ledger(cli: Run) -> None:
    provider, job_id = _submit(cli)

    proc = cli("wait", "groupdocs,convertapi", job_id, "--timeout", "20")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{provider} {job_id}")


def test_an_unknown_provider_in_a_list_is_a_usage_error(cli: Run) -> None:
    proc = cli("submit", "convertapi,nosuch", "convert", "source=report.docx", "to=pdf")

    assert proc.returncode == 2
    assert "nosuch" in proc.stderr


def test_formats_lists_the_providers_of_a_conversion(cli: Run) -> None:
    proc = cli("--json", "formats", "--from", "docx", "--to", "pdf")

    assert proc.returncode == 0, proc.stderr
    [conversion] = json.loads(proc.stdout)["conversions"]
    assert conversion["from"] == "docx"
    assert {"convertapi", "groupdocs"} <= set(conversion["providers"])


def test_usage_sums_what_the_jobs_cost(cli: Run) -> None:
    _, job_id = _submit(cli, "convertapi")
    assert cli("wait", "convertapi", job_id, "--timeout", "20").returncode == 0

    proc = cli("--json", "usage", "--by", "provider")

    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["usage"]
    assert {"group": "convertapi", "unit": "conversions", "amount": 1.0, "jobs": 1} in rows


def test_usage_refuses_an_unknown_grouping_by_its_flag(cli: Run) -> None:
    proc = cli("usage", "--by", "secret")

    assert proc.returncode == 2
    assert "--by" in proc.stderr


def test_resubmit_runs_a_failed_job_again_at_another_provider(
    cli: Run, boxes: dict[str, Any]
) -> None:
    _, job_id = _submit(cli, "convertapi")
    boxes["convertapi"].box.app.faults.status(
        500, path="/job/", times=100, body={"Code": 5001, "Message": "Conversion failed."}
    )
    assert cli("wait", "convertapi", job_id, "--timeout", "20").returncode == 1

    proc = cli("--json", "resubmit", job_id, "--provider", "groupdocs")

    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["provider"] == "groupdocs"
    assert doc["resubmits"] == {"provider": "convertapi", "id": job_id}


def test_resubmit_of_an_id_the_ledger_does_not_know_is_a_usage_error(cli: Run) -> None:
    proc = cli("resubmit", "no-such-job")

    assert proc.returncode == 2
    assert "no-such-job" in proc.stderr


def test_list_takes_a_list_of_providers(cli: Run) -> None:
    _submit(cli, "convertapi")
    _submit(cli, "groupdocs")

    proc = cli("--json", "list", "convertapi,groupdocs", "--local")

    assert proc.returncode == 0, proc.stderr
    assert {r["provider"] for r in json.loads(proc.stdout)["jobs"]} == {"convertapi", "groupdocs"}


@pytest.mark.parametrize(("flag", "value"), [("--from", "../etc"), ("--to", "pdf;rm -rf")])
def test_formats_names_the_flag_of_a_wrong_format(cli: Run, flag: str, value: str) -> None:
    proc = cli("formats", flag, value)

    assert proc.returncode == 2
    assert f"{flag} must be a format name" in proc.stderr


def test_a_worker_takes_a_comma_separated_provider_option_and_names_a_wrong_one(
    cli: Run,
) -> None:
    proc = cli(
        "worker", "--ledger", "postgresql://127.0.0.1:9/none", "--provider", "convertapi,nosuch"
    )

    assert proc.returncode == 2
    assert "nosuch" in proc.stderr
