"""Wire converters: cattrs converters that read a service's JSON into a provider's attrs models and
write requests back, renaming snake_case fields to the wire's casing in one place per provider."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["Case", "WireConverter", "wire_converter"]

T = TypeVar("T")

#: How the wire spells ``started_at``: ``startedAt`` (camel), ``StartedAt`` (pascal), as it is
#: (snake).
Case = Literal["camel", "pascal", "snake"]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _pascal(name: str) -> str:
    camel = _camel(name)
    return camel[:1].upper() + camel[1:]


def _keyword(namer: Callable[[str], str]) -> Callable[[str], str]:
    """``namer`` for a field that ends with ``_`` because its wire name is a Python keyword
    (``import_`` is the wire's ``import``, as PEP 8 spells such names)."""
    return lambda name: namer(name[:-1] if name.endswith("_") else name)


_NAMERS: dict[str, Callable[[str], str]] = {
    "camel": _keyword(_camel),
    "pascal": _keyword(_pascal),
    "snake": _keyword(lambda n: n),
}


def _uncap(key: object) -> str:
    text = str(key)
    return text[:1].lower() + text[1:]


def _time(value: Any, _: type) -> datetime:
    """ISO 8601 (a trailing ``Z`` included) as a timezone-aware datetime (UTC when the wire gives
    no offset)."""
    # ISO 8601, a trailing "Z" included (Python 3.11 reads it)
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


class WireConverter(cattrs.Converter):
    """A cattrs converter for one provider's wire: attrs models with snake_case fields, read from
    and written to JSON whose keys are in ``case``; camelCase and PascalCase answers are read
    either way (services mix them). Unknown keys are ignored, so a new field from the service never
    breaks a client; datetimes are ISO 8601.

    Register classes that use another casing with :meth:`use`; read with :meth:`read`.
    """

    def __init__(self, case: Case = "camel", *, omit_none: bool = False) -> None:
        super().__init__(forbid_extra_keys=False)
        self.case = case
        self.omit_none = omit_none
        self._cases: dict[type[Any], tuple[Case, bool]] = {}
        self.register_structure_hook(datetime, _time)
        self.register_unstructure_hook(datetime, lambda d: d.isoformat())
        self.register_structure_hook_factory(attrs.has, self._structure_of)
        self.register_unstructure_hook_factory(attrs.has, self._unstructure_of)

    def use(self, case: Case, *classes: type[Any], omit_none: bool | None = None) -> None:
        """Read and write ``classes`` in ``case`` (and ``omit_none`` for requests that leave unset
        fields out) instead of the converter's own."""
        for cls in classes:
            self._cases[cls] = (case, self.omit_none if omit_none is None else omit_none)

    def _case(self, cls: type[Any]) -> tuple[Case, bool]:
        return self._cases.get(cls, (self.case, self.omit_none))

    def _structure_of(self, cls: type[Any]) -> Callable[[Any, Any], Any]:
        case, _ = self._case(cls)
        any_case = case != "snake"
        name = _NAMERS["camel" if any_case else case]
        renames = {f.name: override(rename=name(f.name)) for f in attrs.fields(cls)}
        build = cast(Any, make_dict_structure_fn)(cls, self, **renames)
        # each field's key in either case, to the name the structure function reads (other keys
        # are ignored anyway): one lookup per key instead of re-casing every key of every answer
        keys = {
            spelt: _uncap(wire)
            for wire in (name(f.name) for f in attrs.fields(cls))
            for spelt in (_uncap(wire), _pascal(wire))
        }

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"expected a JSON object for {cls.__name__}, got {type(value).__name__}"
                )
            if any_case:
                value = {keys[k]: v for k, v in value.items() if k in keys}
            return build(value, cls)

        return structure

    def _unstructure_of(self, cls: type[Any]) -> Callable[[Any], Any]:
        case, omit_none = self._case(cls)
        renames = {f.name: override(rename=_NAMERS[case](f.name)) for f in attrs.fields(cls)}
        build: Callable[[Any], Any] = cast(Any, make_dict_unstructure_fn)(
            cls, self, _cattrs_omit_if_default=omit_none, **renames
        )
        return build

    def read(self, data: Any, cls: type[T]) -> T:
        """``data`` (parsed JSON) as ``cls``.

        Raises:
            ValueError: the data does not have the shape of ``cls`` (whatever cattrs found wrong).
        """
        try:
            return self.structure(data, cls)
        except ValueError:
            raise
        except (cattrs.BaseValidationError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"unexpected {cls.__name__} body: {exc}") from exc

    def write(self, value: Any) -> Any:
        """``value`` as JSON-ready data with the wire's key names."""
        return self.unstructure(value)


def wire_converter(case: Case = "camel", *, omit_none: bool = False) -> WireConverter:
    """A :class:`WireConverter` for a provider whose JSON keys are in ``case``."""
    return WireConverter(case, omit_none=omit_none)
