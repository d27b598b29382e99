"""The conformance kit over the Echo sandbox: the proof that the provider keeps the job contract."""

from __future__ import annotations

from typing import ClassVar

from asyncjobs.testing import JobCase, ProviderConformance


class TestEchoConformance(ProviderConformance):
    provider = "echo"
    timeout = 10.0
    sandbox_options: ClassVar = {"queue_seconds": 10, "duration": 100}  # jobs last 0.1 s
    success = JobCase("shout", {"text": "hello, world"}, files={"echo-000001.txt": b"HELLO, WORLD"})
    failure = JobCase("shout", {"text": "please fail"}, error="asked to fail")
    unknown_id = "echo-999999"
