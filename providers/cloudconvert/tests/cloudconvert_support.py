"""Constants and types shared by the CloudConvert tests (a uniquely named module, safe to import)."""

from __future__ import annotations

from collections.abc import Callable

import asyncjobs

#: Sandbox time runs this many times faster than the wall clock (a 2 s conversion takes 2 ms).
SCALE = 1000.0
#: Quick retries, so that retry tests take milliseconds.
FAST_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.005, max_time=5)
#: Quick polls.
FAST_POLL = asyncjobs.PollPolicy(initial=0.01, factor=1.5, cap=0.05, min_interval=0.005)
#: connect_to(box, **settings) -> Client
ClientFactory = Callable[..., asyncjobs.Client]
