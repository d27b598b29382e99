"""Constants shared by the GroupDocs tests (a module of its own: test files never import conftest)."""

from __future__ import annotations

import asyncjobs

API = "https://api.groupdocs.cloud/v2.0"
TOKEN_URL = "https://api.groupdocs.cloud/connect/token"
FAST_POLL = asyncjobs.PollPolicy(initial=0.02, factor=1.5, cap=0.05, min_interval=0.01)
QUICK_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.01, max_time=5)
