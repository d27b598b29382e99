"""asyncjobs provider for GroupDocs.Conversion Cloud: ``asyncjobs.connect("groupdocs", client_id=...,
client_secret=...)``. The sandbox (a local emulator of the service) is in
:mod:`asyncjobs_groupdocs.sandbox`."""

from __future__ import annotations

from .provider import GroupDocsProvider
from .storage import StorageFile

__all__ = ["GroupDocsProvider", "StorageFile"]
