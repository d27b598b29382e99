"""asyncjobs-zamzar: the Zamzar provider for asyncjobs, with a local sandbox.

>>> import asyncjobs
>>> client = asyncjobs.connect("zamzar", secret="...")        # doctest: +SKIP
>>> client.submit("convert", source="report.docx", to="pdf").result().save("out/")  # doctest: +SKIP
"""

from __future__ import annotations

from .provider import LIVE_URL, SANDBOX_URL, STATUS_WORDS, ZamzarProvider

__all__ = ["LIVE_URL", "SANDBOX_URL", "STATUS_WORDS", "ZamzarProvider"]
