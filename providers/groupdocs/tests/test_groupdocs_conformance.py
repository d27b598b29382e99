"""The conformance kit over the GroupDocs sandbox."""

from __future__ import annotations

from asyncjobs_groupdocs.sandbox import expected_output

from asyncjobs.testing import JobCase, ProviderConformance

HELLO = b"hello world"


class TestGroupDocsConformance(ProviderConformance):
    provider = "groupdocs"
    timeout = 10.0
    success = JobCase(
        "convert",
        {"source": HELLO, "from_": "docx", "to": "pdf"},
        files={"source.pdf": expected_output(HELLO, "docx", "pdf")},
    )
    failure = JobCase(
        "convert", {"source": b"corrupt data", "from_": "docx", "to": "pdf"}, error="corrupted"
    )
    unknown_id = "00000000-0000-0000-0000-000000000000"
