"""A worker's intake: it claims no more jobs than it can poll within its planning horizon, so that
a fleet's jobs spread over its workers instead of going to whichever claimed first."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from asyncjobs._worker import _due_before


@given(
    st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=300),
    st.floats(min_value=0, max_value=110, allow_nan=False),
    st.integers(min_value=0, max_value=400),
)
def test_due_before_counts_the_heaps_entries_due_before_a_time_up_to_a_bound(
    dues: list[float], when: float, most: int
) -> None:
    heap: list[tuple[float, int, tuple[str, str]]] = []
    for i, due in enumerate(dues):
        heapq.heappush(heap, (due, i, ("p", str(i))))
    assert _due_before(heap, when, most) == min(most, sum(d < when for d in dues))


def test_due_before_an_empty_heap_is_none() -> None:
    assert _due_before([], 10.0, 5) == 0


def test_a_worker_with_as_many_jobs_due_as_it_can_poll_has_no_room(pg_url: str) -> None:
    from asyncjobs._ledger import Ledger
    from asyncjobs._worker import HORIZON, Worker

    with Ledger(pg_url) as ledger:
        worker = Worker(ledger, ["toy"], concurrency=4)
        assert worker._room(0.0, 0) == 16  # no poll timed yet: one batch of claims
        worker._poll_seconds = 0.2  # 4 at a time, 0.2 s each: 40 polls in 2 s
        can = int(4 * HORIZON / 0.2)
        assert worker._room(0.0, 0) == can
        for i in range(can - 5):
            heapq.heappush(worker._heap, (1.0, i, ("toy", str(i))))
        heapq.heappush(worker._heap, (HORIZON + 5.0, 999, ("toy", "later")))  # not due soon
        assert worker._room(0.0, 3) == 2  # 3 in flight, 35 due within the horizon
        assert worker._room(0.0, 5) == 0
