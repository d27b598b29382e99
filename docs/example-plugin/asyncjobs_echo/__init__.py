"""An example third-party provider for asyncjobs: the Echo service, which shouts text (turns it into
upper case) as an async job.

>>> import asyncjobs
>>> client = asyncjobs.connect("echo")  # ECHO_TOKEN, ECHO_BASE_URL        # doctest: +SKIP
>>> client.submit("shout", text="hello").result().files[0].read()         # doctest: +SKIP
b'HELLO'
"""

from __future__ import annotations

from .provider import EchoProvider

__all__ = ["EchoProvider"]
