"""Naming a document that is already in GroupDocs storage."""

from __future__ import annotations

from pathlib import PurePosixPath

import attrs

from asyncjobs.errors import InvalidParameterError

__all__ = ["StorageFile", "check_storage_path"]


def check_storage_path(path: object, parameter: str) -> str:
    """``path`` as a clean storage path (``folder/a.docx``, no leading slash, no ``..``).

    Raises:
        InvalidParameterError: not a string, empty, or with ``..``, ``\\`` or control characters.
    """
    if not isinstance(path, str) or not path.strip().strip("/"):
        raise InvalidParameterError(
            f"groupdocs: {parameter} must be a storage path such as 'folder/report.docx', "
            f"not {path!r}.",
            parameter=parameter,
            provider="groupdocs",
        )
    clean = path.strip().strip("/")
    parts = clean.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\\" in clean or any(ord(c) < 32 for c in clean):
        raise InvalidParameterError(
            f"groupdocs: {parameter}={path!r} is not a usable storage path: use '/'-separated "
            "names without empty, '.' or '..' parts.",
            parameter=parameter,
            provider="groupdocs",
        )
    return clean


def _source_path(path: object) -> str:
    return check_storage_path(path, "source")


@attrs.frozen
class StorageFile:
    """A file already in GroupDocs storage, to convert without uploading:
    ``client.submit("convert", source=StorageFile("folder/a.docx"), to="pdf")``.

    Attributes:
        path: its path in storage, e.g. ``"folder/a.docx"`` (GroupDocs reads the source format from
            the extension).
    """

    path: str = attrs.field(converter=_source_path)

    @property
    def name(self) -> str:
        """The file name, the last part of :attr:`path`."""
        return PurePosixPath(self.path).name

    def describe(self) -> dict[str, str]:
        """A JSON-safe description for the ledger."""
        return {"storage_path": self.path}
