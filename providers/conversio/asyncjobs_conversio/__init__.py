"""Conversio's async jobs (newsletter and segment CSV exports) for asyncjobs.

>>> import asyncjobs
>>> client = asyncjobs.connect("conversio")        # api_key from CONVERSIO_API_KEY  # doctest: +SKIP
>>> client.submit("newsletter-recipients", newsletter="n1").save("out/")          # doctest: +SKIP
"""

from __future__ import annotations

from .provider import ConversioProvider

__all__ = ["ConversioProvider"]
