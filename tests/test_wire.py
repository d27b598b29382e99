"""The wire converter's naming: a field that ends with ``_`` stands for a wire key that is a Python
keyword (``import_`` is ``import``), in every casing, both ways."""

from __future__ import annotations

import attrs
import pytest

from asyncjobs.provider import wire_converter


@attrs.frozen
class _Body:
    import_: str | None = None
    started_at: str | None = None


@pytest.mark.parametrize(
    ("case", "keys"),
    [("snake", ("import", "started_at")), ("camel", ("import", "startedAt")),
     ("pascal", ("Import", "StartedAt"))],
)  # fmt: skip
def test_a_keyword_field_is_read_and_written_under_the_keyword(
    case: str, keys: tuple[str, str]
) -> None:
    converter = wire_converter(case)  # type: ignore[arg-type]
    body = {keys[0]: "a", keys[1]: "b"}

    assert converter.read(body, _Body) == _Body("a", "b")
    assert converter.write(_Body("a", "b")) == body
