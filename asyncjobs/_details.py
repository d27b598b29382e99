"""What a provider's error body says, as :class:`ErrorDetails`: apart from :mod:`asyncjobs._http` so
that a status answered without an error does not build its class."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["ErrorDetails"]


@attrs.frozen
class ErrorDetails:
    """What a provider's error body says: its own code, message, request id and invalid parameters."""

    code: str | int | None = None
    message: str | None = None
    request_id: str | None = None
    invalid_parameters: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
