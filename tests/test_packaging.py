"""Packaging: the distribution names that install the right packages, the Python versions, the files a
release carries, and install hints that name what really installs today."""

from __future__ import annotations

import configparser
import re
from importlib import metadata
from pathlib import Path

import pytest

import asyncjobs
from asyncjobs.errors import UnknownProviderError

ROOT = Path(__file__).resolve().parent.parent
CORE = "asyncjobs-core"
PLUGINS = [
    ROOT / "providers" / "convertapi",
    ROOT / "providers" / "groupdocs",
    ROOT / "providers" / "conversio",
    ROOT / "docs" / "example-plugin",
]
DISTRIBUTIONS = [ROOT, *PLUGINS]
#: Every page and message a newcomer reads install advice from.
TEXTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    ROOT / "docs" / "tour.ipynb",
    *sorted((ROOT / "providers").glob("*/README.md")),
    *sorted((ROOT / "asyncjobs").glob("*.py")),
]


def _cfg(folder: Path) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(folder / "setup.cfg", encoding="utf-8")
    return cfg


def _requires(folder: Path) -> list[str]:
    lines = _cfg(folder)["options"]["install_requires"].splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _id(folder: Path) -> str:
    return str(folder.relative_to(ROOT)) or "core"


def test_the_core_distribution_is_asyncjobs_core() -> None:
    assert _cfg(ROOT)["metadata"]["name"] == CORE


def test_the_installed_core_distribution_holds_the_asyncjobs_package() -> None:
    assert CORE in metadata.packages_distributions()["asyncjobs"]
    assert callable(asyncjobs.available_providers)


@pytest.mark.parametrize("plugin", PLUGINS, ids=_id)
def test_every_plugin_requires_the_core_by_its_distribution_name(plugin: Path) -> None:
    names = [re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] for r in _requires(plugin)]
    assert CORE in names
    assert "asyncjobs" not in names  # an unrelated project on the package index


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=_id)
def test_every_distribution_requires_python_3_11(folder: Path) -> None:
    assert _cfg(folder)["options"]["python_requires"] == ">=3.11"


def test_tqdm_is_a_runtime_dependency() -> None:
    assert any(r.startswith("tqdm") for r in _requires(ROOT))


def test_backoff_is_a_runtime_dependency() -> None:
    assert any(r.startswith("backoff") for r in _requires(ROOT))


def test_the_licence_file_is_mit_and_declared() -> None:
    assert _cfg(ROOT)["metadata"]["license"] == "MIT"
    assert _cfg(ROOT)["metadata"]["license_files"].strip() == "LICENSE"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_the_changelog_has_the_current_version_and_the_unreleased_changes() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## Unreleased" in text
    assert f"## {_cfg(ROOT)['metadata']['version']}" in text


def test_the_versioning_policy_is_a_page_of_the_site() -> None:
    assert "versioning.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "Deprecation" in (ROOT / "docs" / "versioning.md").read_text(encoding="utf-8")


#: Install advice that would fetch the wrong project, or a name no index has yet.
WRONG_INSTALLS = [
    r"pip install [\"']?asyncjobs(\[|[\"' `)]|$)",  # the unrelated project on the package index
    r"pip install [\"']?asyncjobs-(convertapi|groupdocs|conversio|echo|core)\b",  # not published
    r"install_requires\s*=\s*\n\s+asyncjobs\s*\n",
    r"\basyncjobs\[(progress|pandas|sandbox)",
]


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_install_advice_names_what_installs_today(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in WRONG_INSTALLS:
        found = re.search(pattern, text, re.M)
        assert found is None, f"{path.name}: {found.group(0)!r}"


def test_unknown_provider_error_says_how_to_install_from_the_repository() -> None:
    message = str(UnknownProviderError("convertapi2", ["convertapi"]))
    assert "pip install -e ./providers/convertapi" in message
    assert "from a checkout of the asyncjobs repository" in message


def test_the_version_is_the_installed_distributions() -> None:
    assert asyncjobs.__version__ == metadata.version(CORE)


def test_requests_name_the_version_in_their_user_agent() -> None:
    transport = asyncjobs.Transport(provider="acme")
    try:
        agent = transport.session.headers["User-Agent"]
    finally:
        transport.close()
    assert agent.startswith(f"asyncjobs/{asyncjobs.__version__} ")
