"""Constants shared by the Zamzar tests (a uniquely named module, safe to import)."""

from __future__ import annotations

import asyncjobs

#: Sandbox time runs this many times faster than the wall clock.
SCALE = 1000.0
#: Quick retries and polls, so that tests take milliseconds.
FAST_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.005, max_time=5)
FAST_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)
