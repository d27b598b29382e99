"""The registry: register, available_providers, connect, and plugins found through entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from toy_provider import ToyProvider

import asyncjobs
from asyncjobs import _registry as registry
from asyncjobs.errors import ConfigurationError, InvalidParameterError, UnknownProviderError


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry._registered), dict(registry._loaded), registry._plugins
    yield
    registry._registered.clear()
    registry._registered.update(saved[0])
    registry._loaded.clear()
    registry._loaded.update(saved[1])
    registry._plugins = saved[2]


@pytest.fixture
def plugin_dir(tmp_path: Path, clean_registry: None) -> Iterator[Path]:
    """A folder on sys.path holding installed-looking distributions (dist-info with entry points)."""
    sys.path.insert(0, str(tmp_path))
    registry._plugins = None
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("fakeplugin")]:
        del sys.modules[name]


def _install(
    folder: Path,
    dist: str,
    entry: str,
    module_source: str | None,
    *,
    version: str = "1.2.3",
    group: str = "asyncjobs.providers",
) -> None:
    info = folder / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")
    if module_source is not None:
        (folder / "fakeplugin_mod.py").write_text(module_source)


def test_registered_class_is_available(clean_registry: None) -> None:
    asyncjobs.register("acme", ToyProvider)
    assert "acme" in asyncjobs.available_providers()
    assert registry.get_provider_class("acme") is ToyProvider


def test_available_providers_is_sorted(clean_registry: None) -> None:
    asyncjobs.register("zz", ToyProvider)
    asyncjobs.register("aa", ToyProvider)
    names = asyncjobs.available_providers()
    assert names == sorted(names)


def test_registering_a_taken_name_raises(clean_registry: None) -> None:
    asyncjobs.register("acme", ToyProvider)
    with pytest.raises(ConfigurationError, match="replace=True"):
        asyncjobs.register("acme", ToyProvider)


def test_replace_true_takes_a_taken_name(clean_registry: None) -> None:
    class Other(ToyProvider):
        pass

    asyncjobs.register("acme", ToyProvider)
    asyncjobs.register("acme", Other, replace=True)
    assert registry.get_provider_class("acme") is Other


def test_a_string_reference_is_imported_lazily(clean_registry: None) -> None:
    asyncjobs.register("acme", "toy_provider:ToyProvider")
    assert "acme" not in registry._loaded
    assert registry.get_provider_class("acme") is ToyProvider


@pytest.mark.parametrize("name", ["", "Upper", "has space", "/slash", 3])
def test_malformed_names_are_refused(clean_registry: None, name: object) -> None:
    with pytest.raises(InvalidParameterError):
        asyncjobs.register(name, ToyProvider)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", [object, "no_colon", 42])
def test_non_provider_objects_are_refused(clean_registry: None, provider: object) -> None:
    with pytest.raises(InvalidParameterError):
        asyncjobs.register("acme", provider)  # type: ignore[arg-type]


def test_unknown_name_lists_the_names_that_exist(clean_registry: None) -> None:
    asyncjobs.register("acme", ToyProvider)
    with pytest.raises(UnknownProviderError) as caught:
        asyncjobs.connect("nope")
    assert "acme" in caught.value.available
    assert "acme" in str(caught.value)
    assert "'nope'" in str(caught.value)


def test_an_installed_plugin_is_discovered_by_entry_point(plugin_dir: Path) -> None:
    _install(plugin_dir, "fakeplugin", "fake = toy_provider:ToyProvider", None)
    assert "fake" in asyncjobs.available_providers()
    assert registry.get_provider_class("fake") is ToyProvider


def test_a_plugin_installed_twice_is_taken_from_the_first_folder_on_sys_path(
    plugin_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    later = tmp_path_factory.mktemp("site-later")
    _install(later, "fakeplugin", "fake = fakeplugin_mod:Provider", None, version="9.9.9")
    sys.path.append(str(later))
    try:
        _install(plugin_dir, "fakeplugin", "fake = fakeplugin_mod:Provider", "import nope_xyz\n")
        with pytest.raises(ConfigurationError, match=r"fakeplugin 1\.2\.3"):
            registry.get_provider_class("fake")
    finally:
        sys.path.remove(str(later))


def test_an_entry_point_of_another_group_that_names_the_group_is_not_a_provider(
    plugin_dir: Path,
) -> None:
    _install(plugin_dir, "fakeplugin", "fake = asyncjobs.providers:main", None, group="other")
    assert "fake" not in asyncjobs.available_providers()


def test_a_plugin_is_not_imported_until_used(plugin_dir: Path) -> None:
    _install(plugin_dir, "fakeplugin", "fake = fakeplugin_mod:Provider", "raise RuntimeError('x')")
    assert "fake" in asyncjobs.available_providers()
    assert "fakeplugin_mod" not in sys.modules


def test_a_plugin_that_fails_to_import_names_its_distribution_and_why(plugin_dir: Path) -> None:
    _install(
        plugin_dir, "fakeplugin", "fake = fakeplugin_mod:Provider", "import no_such_module_xyz\n"
    )
    with pytest.raises(ConfigurationError) as caught:
        registry.get_provider_class("fake")
    message = str(caught.value)
    assert "fakeplugin 1.2.3" in message
    assert "no_such_module_xyz" in message
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_a_plugin_that_is_not_a_provider_is_refused(plugin_dir: Path) -> None:
    _install(plugin_dir, "fakeplugin", "fake = fakeplugin_mod:Thing", "class Thing: pass\n")
    with pytest.raises(ConfigurationError, match=r"not a subclass of asyncjobs\.Provider"):
        registry.get_provider_class("fake")


def test_register_refuses_a_name_an_installed_plugin_has(plugin_dir: Path) -> None:
    _install(plugin_dir, "fakeplugin", "fake = toy_provider:ToyProvider", None)
    with pytest.raises(ConfigurationError):
        asyncjobs.register("fake", ToyProvider)


def test_installed_providers_load_beside_the_importlib_metadata_backport() -> None:
    # Airflow imports the backport; its entry points are then no instances of the standard
    # library's EntryPoint class. A fresh process, so that the scan happens after the import.
    import subprocess

    code = (
        "import importlib_metadata, asyncjobs\n"
        "client = asyncjobs.connect('conversio', ledger=False, api_key='k',"
        " base_url='http://127.0.0.1:9')\n"
        "print(type(client.provider).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ConversioProvider"
