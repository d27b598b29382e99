"""The ledger: a record of every job submitted, on SQLite (a path) or PostgreSQL (a URL), or any
backend installed under the entry-point group ``asyncjobs.ledgers``.

Modules: ``_facade`` (:class:`Ledger`, the one interface), ``_store`` (the :class:`Store` protocol a
backend implements), ``_schema`` (the schema declared once, its versioned steps, their rendering
per dialect, imported only to create or migrate a ledger), ``_version`` (the schema's version
number), ``_rows`` (rows decoded in one place), ``_reports`` (the rows of the usage and budget
reports, imported when one is read), ``_backends`` (a backend chosen by URL scheme), ``_sqlite`` and
``_postgres`` (the built-in backends, imported only when used).
"""

from typing import TYPE_CHECKING, Any

from ._facade import LEASE_SECONDS, Ledger, default_home
from ._rows import USAGE_GROUPS, LedgerEntry, SubmitState, gc_paused
from ._store import Store, StoreOptions
from ._version import SCHEMA_VERSION

if TYPE_CHECKING:
    from ._reports import Usage
    from ._schema import MIGRATIONS

__all__ = [
    "LEASE_SECONDS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "USAGE_GROUPS",
    "Ledger",
    "LedgerEntry",
    "Store",
    "StoreOptions",
    "SubmitState",
    "Usage",
    "default_home",
    "gc_paused",
]


def __getattr__(name: str) -> Any:
    """``MIGRATIONS`` and ``Usage``, imported on first use: a ledger of the current schema is opened
    without reading its steps or building the report rows' class."""
    if name == "MIGRATIONS":
        from ._schema import MIGRATIONS

        return MIGRATIONS
    if name == "Usage":
        from ._reports import Usage

        return Usage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
