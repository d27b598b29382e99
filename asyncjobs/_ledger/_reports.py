"""What :meth:`Ledger.usage` and :meth:`Ledger.budgets` report, row by row: apart from the ledger's
other values so that opening a ledger (a status) does not build their classes."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["BudgetUse", "Usage"]


@attrs.frozen
class Usage:
    """One row of :meth:`Ledger.usage`: what the jobs of one group cost in one unit.

    Attributes:
        group: the provider, the kind, or the UTC day (``YYYY-MM-DD``).
        unit: the unit the amount is in; ``None`` for the jobs whose cost is not known.
        amount: the sum, in ``unit``; ``None`` when the unit is.
        jobs: how many jobs the row sums.
    """

    group: str
    unit: str | None
    amount: float | None
    jobs: int


@attrs.frozen
class BudgetUse:
    """One request budget as the ledger paces it (see :meth:`Ledger.budgets`)."""

    key: str
    taken: int
    waited: float
    rate: float | None
    paused_until: datetime | None
