"""The transport refuses JSON nested deeper than it reads before parsing it (``too_deep``): the
depth is told without recursion, and brackets inside strings do not count."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from asyncjobs._http import MAX_JSON_DEPTH, too_deep

_LEAVES = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ ab\n', max_size=8)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_VALUES, st.integers(min_value=0, max_value=6))
def test_the_depth_is_told_as_the_parser_would_meet_it(value: Any, limit: int) -> None:
    body = json.dumps(value).encode()

    assert too_deep(body, limit) is (_depth(value) > limit)


def test_a_body_nested_200000_deep_is_too_deep() -> None:
    assert too_deep(b"[" * 200_000 + b"]" * 200_000)


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"a": "[" * (MAX_JSON_DEPTH + 10), "b": '\\"[['}).encode()

    assert not too_deep(body)
