"""The ledger's schema version, apart from the schema: opening a ledger that is of this version
already checks the number only, so the steps that build the schema (``_schema``: its models, its
tables, their rendering) are imported only when a ledger is created or migrated."""

from __future__ import annotations

from asyncjobs.errors import ConfigurationError

__all__ = ["SCHEMA_VERSION", "newer_schema"]

#: The schema version this asyncjobs writes (and the newest it reads): the number of steps in
#: :data:`~asyncjobs._ledger._schema.MIGRATIONS` (which checks it when imported).
SCHEMA_VERSION = 9


def newer_schema(where: str, found: int) -> ConfigurationError:
    """The error of a ledger written by a newer asyncjobs (``where`` names it); nothing of it was
    changed."""
    return ConfigurationError(
        f"{where} was written by a newer asyncjobs: it is a ledger of schema version {found}, newer "
        f"than this asyncjobs understands ({SCHEMA_VERSION}). Upgrade asyncjobs-core (pip install "
        "-U asyncjobs-core) wherever this ledger is used, or point ASYNCJOBS_LEDGER (ledger=, "
        "--ledger) at another one; it was left as it is."
    )
