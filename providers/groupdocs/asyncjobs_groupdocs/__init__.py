"""asyncjobs provider for GroupDocs.Conversion Cloud: ``asyncjobs.connect("groupdocs", client_id=...,
client_secret=...)``. The sandbox (a local emulator of the service) is in
:mod:`asyncjobs_groupdocs.sandbox`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .provider import GroupDocsProvider

if TYPE_CHECKING:
    from .storage import StorageFile

__all__ = ["GroupDocsProvider", "StorageFile"]


def __getattr__(name: str) -> Any:
    """``StorageFile``, imported when first read: a status reads no storage file."""
    if name == "StorageFile":
        from .storage import StorageFile

        return StorageFile
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
