"""The long-running commands (``worker``, ``webhooks serve``, ``dashboard``) log their work at INFO,
more with ``-v``/``-v -v``, and never a secret or a webhook token, whatever the level."""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webhook_support import KEY, SLOW_POLL, free_port, serve_in_subprocess

import asyncjobs
from asyncjobs import webhooks
from asyncjobs.cli._logs import add_log_options, mask_query_values, start_logging
from asyncjobs.cli._output import Out
from asyncjobs.sandbox import Sandbox

DASHBOARD_TOKEN = "dashboard-canary-token-3b9d1e77"


def _no_secret(text: str, *secrets: str) -> None:
    for secret in (KEY, DASHBOARD_TOKEN, *secrets):
        assert secret not in text
    assert "whk_" not in text  # no webhook token, whole or cut


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """start_logging configures the process's loggers: put them back after the test."""
    root, ours = logging.getLogger(), logging.getLogger("asyncjobs")
    handlers, levels = list(root.handlers), (root.level, ours.level)
    yield
    root.handlers[:] = handlers
    root.setLevel(levels[0])
    ours.setLevel(levels[1])


def _log_with(*argv: str) -> io.StringIO:
    parser = argparse.ArgumentParser()
    add_log_options(parser)
    stream = io.StringIO()
    start_logging(parser.parse_args(list(argv)), Out(False, io.StringIO(), stream), stream)
    return stream


def test_info_is_the_default_level(logging_restored: None) -> None:
    stream = _log_with()
    logging.getLogger("asyncjobs.worker").info("seen")
    logging.getLogger("asyncjobs.worker").debug("not seen")
    assert "seen" in stream.getvalue()
    assert "not seen" not in stream.getvalue()


def test_one_v_shows_asyncjobs_debug_records_only(logging_restored: None) -> None:
    stream = _log_with("-v")
    logging.getLogger("asyncjobs.http").debug("ours")
    logging.getLogger("urllib3.connectionpool").debug("theirs")
    assert "ours" in stream.getvalue()
    assert "theirs" not in stream.getvalue()


def test_two_v_show_every_librarys_debug_records(logging_restored: None) -> None:
    stream = _log_with("-v", "-v")
    logging.getLogger("urllib3.connectionpool").debug("theirs")
    assert "theirs" in stream.getvalue()


def test_log_level_chooses_asyncjobs_level(logging_restored: None) -> None:
    stream = _log_with("--log-level", "warning")
    logging.getLogger("asyncjobs.jobs").info("quiet")
    logging.getLogger("asyncjobs.jobs").warning("loud")
    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()


def test_a_librarys_request_line_shows_no_query_value_or_token(logging_restored: None) -> None:
    stream = _log_with("-v", "-v")
    token = "whk_" + "A" * 43
    logging.getLogger("urllib3.connectionpool").debug(
        '%s "GET /hooks/convertapi/%s?Secret=%s&x=1 HTTP/1.1" 200 2', "https://h:443", token, KEY
    )
    _no_secret(stream.getvalue())
    assert "?Secret=***&x=***" in stream.getvalue()


def test_query_values_are_masked_and_names_kept() -> None:
    assert mask_query_values("GET /a?token=abc&b=1 x") == "GET /a?token=***&b=*** x"


def test_webhooks_serve_logs_an_access_line_per_call_with_the_token_masked(
    convertapi_box: Sandbox, tmp_path: Path, asyncjobs_home: Path
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}/hooks"
    ledger = tmp_path / "shared.sqlite3"
    asyncjobs.Ledger(ledger).close()
    proc = serve_in_subprocess(convertapi_box, public, port, ledger, asyncjobs_home, "-v", "-v")
    try:
        with asyncjobs.connect(
            "convertapi",
            webhooks=webhooks.Receiver(public, KEY),
            poll=SLOW_POLL,
            ledger=ledger,
            **convertapi_box.app.client_settings(convertapi_box.url),
        ) as client:
            job = client.submit("convert", source=b"hi", from_="txt", to="pdf", webhook=True)
            assert job.wait(timeout=10).status is asyncjobs.Status.DONE
        time.sleep(0.5)  # the confirming poll's records
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert re.search(rf"POST /hooks/convertapi/\*\*\* 200: convertapi .* for job {job.id}", err)
    assert "urllib3" in err  # -v -v: the confirming poll's request lines are there too
    _no_secret(out + err, convertapi_box.app.secret)


def test_the_worker_logs_each_job_it_saw_end_and_no_secret(fleet: Any) -> None:
    from fleet_support import command, eventually

    ids = fleet.submit(2)
    proc = command(fleet.env, "worker", "-v", "-v")
    fleet.procs.append(proc)
    assert eventually(lambda: fleet.statuses() == {"done": 2}, timeout=60)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    for job_id in ids:
        assert re.search(rf"convertapi job {job_id} ended done", err), err[-2000:]
    assert "urllib3" in err
    _no_secret(err, fleet.app.secret)


def test_a_worker_without_a_providers_setting_says_so_once_in_command_line_terms(
    fleet: Any,
) -> None:
    from fleet_support import command

    fleet.submit(1)
    env = {k: v for k, v in fleet.env.items() if k != "CONVERTAPI_SECRET"}
    proc = command(env, "worker", "--provider", "convertapi")
    fleet.procs.append(proc)
    time.sleep(8)  # several claims (3-second leases)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    said = [line for line in err.splitlines() if "cannot poll convertapi jobs" in line]
    assert len(said) == 1, err[-2000:]
    assert "CONVERTAPI_SECRET" in said[0]
    assert "asyncjobs.connect" not in err
    assert "secret=..." not in err


def test_the_dashboard_logs_its_requests_and_no_token(tmp_path: Path) -> None:
    env = dict(os.environ, ASYNCJOBS_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "asyncjobs",
            "--ledger",
            str(tmp_path / "l.sqlite3"),
            "dashboard",
            "--port",
            "0",
            "--token",
            DASHBOARD_TOKEN,
            "-v",
            "-v",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" on ", 1)[1].split()[0]
        for path in ("/", f"/jobs?token={DASHBOARD_TOKEN}"):
            request = urllib.request.Request(
                url + path, headers={"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
            )
            try:
                urllib.request.urlopen(request, timeout=5).read()
            except urllib.error.HTTPError as exc:
                exc.read()
        time.sleep(0.3)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert re.search(r"asyncjobs\.dashboard: GET / \d{3} \d+ms", err), err[-2000:]
    _no_secret(out + err)
