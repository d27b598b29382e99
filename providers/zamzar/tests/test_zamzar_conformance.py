"""The conformance kit over the Zamzar sandbox."""

from __future__ import annotations

from asyncjobs_zamzar.sandbox import expected_output

from asyncjobs.testing import JobCase, ProviderConformance

HELLO = b"hello world"


class TestZamzarConformance(ProviderConformance):
    provider = "zamzar"
    timeout = 20.0
    unknown_id = "987654321"
    success = JobCase(
        "convert",
        {"source": HELLO, "from_": "txt", "to": "pdf"},
        files={"file.pdf": expected_output("txt", "pdf", HELLO)},
    )
    # an empty source fails as Zamzar's own example failure does ("too small to convert", code 2)
    failure = JobCase("convert", {"source": b"", "from_": "txt", "to": "pdf"}, error="too small")
