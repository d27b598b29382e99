"""Constants shared by the Conversio tests (a module of its own: test files never import conftest)."""

from __future__ import annotations

import asyncjobs

#: Poll every few milliseconds: the sandbox runs a minute-long export in 60 ms.
QUICK_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)

#: The sandbox shops' API keys (test values, never real secrets).
KEY = "cv-key-shop-one-0123456789"
OTHER_KEY = "cv-key-shop-two-9876543210"
