"""Constants and types shared by the ConvertAPI tests (a uniquely named module, safe to import)."""

from __future__ import annotations

from collections.abc import Callable

import asyncjobs

#: Sandbox time runs this many times faster than the wall clock (a 5 s hold takes 5 ms).
SCALE = 1000.0
#: Quick retries, so that retry tests take milliseconds.
FAST_RETRY = asyncjobs.RetryPolicy(max_tries=3, base=0.001, cap=0.005, max_time=5)
#: connect_to(box, protocol="current", **settings) -> Client
ClientFactory = Callable[..., asyncjobs.Client]
