"""The one cattrs converter for asyncjobs' own JSON (the ledger, ``--json`` output): :class:`JobInfo`
and :class:`Result` to and from JSON-ready data. A provider's wire format has its own converter in its
package; this one is only for asyncjobs' own representation."""

from __future__ import annotations

import json
from datetime import datetime

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from ._models import JobInfo, Result, ResultFile, Status

__all__ = ["converter", "info_from_json", "info_to_json", "result_from_json", "result_to_json"]

converter = make_converter()
converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
converter.register_structure_hook(Status, lambda v, _: Status(v))
# result files rebuilt from JSON carry no content or opener: fetch them again through a client
converter.register_unstructure_hook(
    ResultFile,
    make_dict_unstructure_fn(
        ResultFile, converter, _data=override(omit=True), _opener=override(omit=True)
    ),
)
converter.register_structure_hook(
    ResultFile,
    make_dict_structure_fn(
        ResultFile, converter, _data=override(omit=True), _opener=override(omit=True)
    ),
)


def info_to_json(info: JobInfo) -> str:
    """Serialize a :class:`JobInfo` to a JSON string."""
    return json.dumps(converter.unstructure(info), default=str)


def info_from_json(text: str) -> JobInfo:
    """Rebuild a :class:`JobInfo` from :func:`info_to_json`'s output."""
    return converter.structure(json.loads(text), JobInfo)


def result_to_json(result: Result) -> str:
    """Serialize a :class:`Result` to a JSON string (file contents are not included)."""
    return json.dumps(converter.unstructure(result), default=str)


def result_from_json(text: str) -> Result:
    """Rebuild a :class:`Result` from :func:`result_to_json`'s output."""
    return converter.structure(json.loads(text), Result)
