"""The conformance kit over the Conversio sandbox."""

from __future__ import annotations

from asyncjobs.testing import JobCase, ProviderConformance

CSV = b"email\nann+n1@example.com\nbob+n1@example.com\n"


class TestConversioConformance(ProviderConformance):
    provider = "conversio"
    timeout = 10.0
    success = JobCase(
        "newsletter-recipients", {"newsletter": "n1"}, files={"57b5aa3b046abfb053d80001.csv": CSV}
    )
    failure = JobCase("segments-export", {"segment": "s-fail"}, error="failed on purpose")
    unknown_id = "57b5aa3b046abfb053d8ffff"
