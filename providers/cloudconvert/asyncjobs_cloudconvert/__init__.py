"""asyncjobs-cloudconvert: the CloudConvert (API v2) provider for asyncjobs, with a local sandbox.

>>> import asyncjobs
>>> client = asyncjobs.connect("cloudconvert", secret="...")       # doctest: +SKIP
>>> client.submit("convert", source="report.docx", to="pdf").result().save("out/")  # doctest: +SKIP
"""

from __future__ import annotations

from .provider import CloudConvertProvider, sign_webhook, verify_webhook

__all__ = ["CloudConvertProvider", "sign_webhook", "verify_webhook"]
