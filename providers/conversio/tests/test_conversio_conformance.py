"""The conformance kit over the Conversio sandbox."""

from __future__ import annotations

import re

from asyncjobs.testing import JobCase, ProviderConformance

CSV = b"email\nann+n1@example.com\nbob+n1@example.com\n"


class TestConversioConformance(ProviderConformance):
    provider = "conversio"
    timeout = 10.0
    # the file is named after its job: any job id of the service's shape
    success = JobCase(
        "newsletter-recipients", {"newsletter": "n1"}, files={re.compile(r"[0-9a-f]{24}\.csv"): CSV}
    )
    failure = JobCase("segments-export", {"segment": "s-fail"}, error="failed on purpose")
    unknown_id = "57b5aa3b046abfb053d8ffff"
