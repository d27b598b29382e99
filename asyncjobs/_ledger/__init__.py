"""The ledger: a record of every job submitted, on SQLite (a path) or PostgreSQL (a URL), or any
backend installed under the entry-point group ``asyncjobs.ledgers``.

Modules: ``_facade`` (:class:`Ledger`, the one interface), ``_store`` (the :class:`Store` protocol a
backend implements), ``_schema`` (the schema declared once, its versioned steps, their rendering
per dialect), ``_rows`` (rows decoded in one place), ``_backends`` (a backend chosen by URL scheme),
``_sqlite`` and ``_postgres`` (the built-in backends, imported only when used).
"""

from ._facade import LEASE_SECONDS, Ledger, default_home
from ._rows import USAGE_GROUPS, LedgerEntry, SubmitState, Usage, gc_paused
from ._schema import MIGRATIONS, SCHEMA_VERSION
from ._store import Store, StoreOptions

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
