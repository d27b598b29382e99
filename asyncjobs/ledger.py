"""What a ledger backend implements and uses: a plugin registered under the entry-point group
``asyncjobs.ledgers`` imports these (see "Writing a ledger backend" in the docs).

The :class:`Store` protocol is what a backend's class implements (called as
``StoreClass(target, StoreOptions(...))``); the schema is declared once (:data:`MIGRATIONS`, the
versioned steps, :data:`SCHEMA_VERSION` the current version) and a :class:`Dialect` renders the
missing steps in a database's own words; :func:`newer_schema` is the one error for a ledger
written by a newer asyncjobs. Users open ledgers with :class:`asyncjobs.Ledger`.
"""

from __future__ import annotations

from ._ledger._schema import MIGRATIONS, SCHEMA_VERSION, ColumnType, Dialect, newer_schema
from ._ledger._store import Cursor, Executor, Leases, Store, StoreOptions

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ColumnType",
    "Cursor",
    "Dialect",
    "Executor",
    "Leases",
    "Store",
    "StoreOptions",
    "newer_schema",
]
