"""The conformance kit over the CloudConvert sandbox."""

from __future__ import annotations

from asyncjobs_cloudconvert.sandbox import expected_output

from asyncjobs.testing import JobCase, ProviderConformance

HELLO = b"hello world"


class TestCloudConvertConformance(ProviderConformance):
    provider = "cloudconvert"
    timeout = 20.0
    unknown_id = "8b1ee0a4-7d1c-4b8e-9a51-0d9b0c2f3e11"
    success = JobCase(
        "convert",
        {"source": HELLO, "from_": "docx", "to": "pdf"},
        files={"file.pdf": expected_output("docx", "pdf", HELLO)},
    )
    # the sandbox fails files whose name says corrupt, as a damaged document fails at the service
    failure = JobCase(
        "convert",
        {"source": "https://files.example.com/corrupt-report.docx", "to": "pdf"},
        error="damaged",
    )
