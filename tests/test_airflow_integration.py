"""The Airflow provider's tests (integrations/airflow/tests), run from the core's one test command.

Airflow is large and brings its own pins, so its tests never run in this environment: this module
makes Airflow's own virtual environment once (``integrations/airflow/requirements-test.txt``, the
asyncjobs packages installed in editable mode), then runs ``<venv>/bin/python -m pytest`` in
``integrations/airflow`` as a child process, and fails with its output when it fails.

Where the environment lives: ``ASYNCJOBS_AIRFLOW_VENV`` when set (``.ci/run`` sets a fresh folder
per CI run), else a folder under the system's temporary folder named by a hash of the pinned
requirements, reused while its ``.complete`` marker stands. ``ASYNCJOBS_SKIP_AIRFLOW=1`` skips it
on a developer's machine; under ``CI=true`` nothing skips.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW = ROOT / "integrations" / "airflow"
REQUIREMENTS = AIRFLOW / "requirements-test.txt"
#: the distributions installed (editable) beside Airflow; their setup.cfg's dependencies count too
EDITABLE = (
    ".[sandbox]",
    "./providers/convertapi",
    "./providers/groupdocs",
    "./providers/conversio",
    "./providers/cloudconvert",
    "./providers/zamzar",
    "./integrations/airflow",
)

pytestmark = pytest.mark.slow


def _key() -> str:
    """A hash of what the environment is made from: the pins, the packages' metadata, Python."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(AIRFLOW.glob("*.txt")):
        digest.update(path.read_bytes())
    for spec in EDITABLE:
        folder = ROOT / spec.split("[")[0]
        digest.update((folder / "setup.cfg").read_bytes())
    return digest.hexdigest()[:16]


def venv_path() -> Path:
    """Where the Airflow tests' environment is (made or to be made)."""
    given = os.environ.get("ASYNCJOBS_AIRFLOW_VENV")
    if given:
        return Path(given)
    return Path(tempfile.gettempdir()) / f"asyncjobs-airflow-venv-{_key()}"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> Path:
    """Make the environment unless it is complete already (one maker at a time); its python."""
    marker = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second pytest waits for the first one's install
        if marker.exists() and marker.read_text() == _key():
            return _python(venv)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
        started = time.monotonic()
        install = [
            str(_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "-r", str(REQUIREMENTS),
        ]  # fmt: skip
        for spec in EDITABLE:
            install += ["-e", spec]
        done = subprocess.run(
            install, cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"installing Airflow's test environment in {venv} failed:\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}",
                pytrace=False,
            )
        marker.write_text(_key())
        print(f"Airflow's test environment made in {time.monotonic() - started:.0f} s: {venv}")
    return _python(venv)


def test_the_airflow_provider_passes_its_tests_in_airflows_own_environment(
    tmp_path: Path,
) -> None:
    if os.environ.get("ASYNCJOBS_SKIP_AIRFLOW") == "1" and os.environ.get("CI") != "true":
        pytest.skip("ASYNCJOBS_SKIP_AIRFLOW=1")
    python = ensure_venv(venv_path())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COV_CORE_", "COVERAGE_", "AIRFLOW"))
    }
    env.update({"PYTEST_ADDOPTS": "", "TMPDIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"})
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "tests"],
        cwd=AIRFLOW,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1:] or [""]
    if done.returncode != 0 or not re.search(r"\d+ passed", summary[0]) or "skipped" in summary[0]:
        pytest.fail(
            f"the Airflow tests failed ({venv_path()}):\n{done.stdout[-12000:]}\n{done.stderr[-3000:]}",
            pytrace=False,
        )


def test_the_airflow_docs_show_the_dag_the_airflow_tests_run() -> None:
    page = (ROOT / "docs" / "airflow.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- listing: (\S+) -->\n```python\n(.*?)```", page, re.S)
    assert found, "docs/airflow.md shows no listing"
    for path, block in found:
        assert block == (ROOT / path).read_text(encoding="utf-8"), f"copy {path} again"
