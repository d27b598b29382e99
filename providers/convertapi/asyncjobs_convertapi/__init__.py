"""asyncjobs-convertapi: the ConvertAPI provider for asyncjobs, with a local sandbox.

>>> import asyncjobs
>>> client = asyncjobs.connect("convertapi", secret="...")        # doctest: +SKIP
>>> client.submit("convert", source="report.docx", to="pdf").result().save("out/")  # doctest: +SKIP
"""

from __future__ import annotations

from .provider import AUTH_CODES, ConvertAPIProvider, FileId

__all__ = ["AUTH_CODES", "ConvertAPIProvider", "FileId"]
