"""The ledger's schema, declared once: its tables, columns and indexes in a neutral form, the
versioned steps that build them, and their rendering in each backend's dialect.

Every backend keeps one schema version (SQLite in ``PRAGMA user_version``, PostgreSQL in its ``meta``
table): version *n* is what the first *n* steps of :data:`MIGRATIONS` built. Opening a ledger of an
older version runs the missing steps, rendered in the backend's dialect, in one transaction; a
ledger of a newer version is refused untouched (:func:`newer_schema`). Append steps; never edit a
released one (a ledger that ran it would not run it again).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping

import attrs

from ._version import SCHEMA_VERSION, newer_schema

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AddColumn",
    "Backfill",
    "Column",
    "ColumnType",
    "Dialect",
    "Index",
    "Operation",
    "Step",
    "Table",
    "newer_schema",
]


class ColumnType(enum.Enum):
    """A column's type, as the ledger means it (each dialect names its own)."""

    #: text (JSON documents included)
    TEXT = "text"
    #: a time: seconds since the epoch, fractional
    TIME = "time"
    #: a number, fractional (a job's cost)
    NUMBER = "number"
    #: the order rows were added in, unique; called ``rowid`` in the ledger's SQL (SQLite's implicit
    #: rowid; a dialect without one names and declares a column of its own)
    ORDER = "order"


@attrs.frozen
class Column:
    """One column of a table."""

    name: str
    type: ColumnType
    not_null: bool = False
    primary_key: bool = False
    #: ``"table(column)"`` it refers to
    references: str | None = None


@attrs.frozen
class Table:
    """A table, as the step that creates it declares it (later steps may add columns)."""

    name: str
    columns: tuple[Column, ...]


@attrs.frozen
class Index:
    """An index; ``where`` (the ledger's SQL) makes it partial; ``only`` names the dialects that
    have it (``None``: all)."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None
    only: frozenset[str] | None = None


@attrs.frozen
class AddColumn:
    """A column added to an existing table (its rows get ``NULL``)."""

    table: str
    column: Column


@attrs.frozen
class Backfill:
    """A statement in the ledger's SQL that fills in what a step added, from what was there."""

    sql: str


#: What a step does.
Operation = Table | Index | AddColumn | Backfill


@attrs.frozen
class Step:
    """Brings a ledger from version ``version - 1`` to ``version``."""

    version: int
    why: str
    operations: tuple[Operation, ...]


def _text(name: str, *, not_null: bool = False, primary_key: bool = False) -> Column:
    return Column(name, ColumnType.TEXT, not_null=not_null, primary_key=primary_key)


def _time(name: str, *, not_null: bool = False) -> Column:
    return Column(name, ColumnType.TIME, not_null=not_null)


_SHARED_ONLY = frozenset({"postgresql"})

#: The versioned steps of the schema: step ``n`` (counting from 1) brings version ``n - 1`` to ``n``.
MIGRATIONS: tuple[Step, ...] = (
    Step(
        1,
        "the jobs and every status seen",
        (
            Table(
                "jobs",
                (
                    Column("rowid", ColumnType.ORDER),
                    _text("key", primary_key=True),
                    _text("provider", not_null=True),
                    _text("job_id"),
                    _text("kind", not_null=True),
                    _text("params", not_null=True),
                    _text("state", not_null=True),
                    _text("status"),
                    _text("raw_status"),
                    _text("error"),
                    _time("created_at", not_null=True),
                    _time("updated_at", not_null=True),
                    _time("submitted_at"),
                    _time("started_at"),
                    _time("completed_at"),
                    _time("expires_at"),
                    _text("meta"),
                ),
            ),
            Index(
                "jobs_by_id",
                "jobs",
                ("provider", "job_id"),
                unique=True,
                where="job_id IS NOT NULL",
            ),
            Index("jobs_by_status", "jobs", ("status", "provider")),
            # a shared ledger's intake (claims) and time filters; SQLite ledgers never had them
            Index("jobs_created", "jobs", ("created_at",), only=_SHARED_ONLY),
            Index(
                "jobs_pending",
                "jobs",
                ("rowid",),
                where="status = 'pending' AND job_id IS NOT NULL",
                only=_SHARED_ONLY,
            ),
            Table(
                "statuses",
                (
                    Column("rowid", ColumnType.ORDER),
                    Column("key", ColumnType.TEXT, not_null=True, references="jobs(key)"),
                    _time("seen_at", not_null=True),
                    _text("status", not_null=True),
                    _text("raw_status"),
                ),
            ),
        ),
    ),
    Step(
        2,
        "when the ledger first saw a job finished (the start of its lifetime when the provider does"
        " not say when it completed), and the history by job",
        (
            AddColumn("jobs", _time("finished_seen_at")),
            Backfill(
                "UPDATE jobs SET finished_seen_at = (SELECT MIN(s.seen_at) FROM statuses s"
                " WHERE s.key = jobs.key AND s.status IN ('done', 'failed'))"
            ),
            Index("statuses_by_key", "statuses", ("key", "seen_at")),
        ),
    ),
    Step(
        3,
        "who polls a job (leases; used on a shared ledger, the columns alike everywhere so that"
        " every backend runs the same SQL)",
        (
            AddColumn("jobs", _text("lease_holder")),
            AddColumn("jobs", _time("lease_until")),
            Index(
                "jobs_by_holder",
                "jobs",
                ("lease_holder",),
                where="lease_holder IS NOT NULL",
                only=_SHARED_ONLY,
            ),
        ),
    ),
    Step(
        4,
        "what a job cost (its amount and unit, summed by `asyncjobs usage`), the source a"
        " resubmit reads again (a path or URL; never bytes), and the attempts before it (each"
        " provider a routed submit tried, or the job it resubmits, as JSON)",
        (
            AddColumn("jobs", Column("cost_amount", ColumnType.NUMBER)),
            AddColumn("jobs", _text("cost_unit")),
            AddColumn("jobs", _text("source")),
            AddColumn("jobs", _text("attempts")),
        ),
    ),
    Step(
        5,
        "the W3C traceparent of the submit's trace (OpenTelemetry), kept with the job so that a"
        " poll in another process, a fleet worker on another machine or a webhook receiver can link"
        " its spans to the submitter's trace; NULL when there was none or it was malformed",
        (AddColumn("jobs", _text("traceparent")),),
    ),
    Step(
        6,
        "request budgets: each provider account's pace (the slot last given out and a pause a"
        " rate-limited answer asked for, on the database's clock), shared by every process and"
        " machine on the ledger, and how much its requests waited and how many went",
        (
            Table(
                "budgets",
                (
                    _text("key", primary_key=True),
                    Column("slot", ColumnType.TIME, not_null=True),
                    Column("paused_until", ColumnType.TIME, not_null=True),
                    Column("waited", ColumnType.NUMBER, not_null=True),
                    Column("taken", ColumnType.NUMBER, not_null=True),
                    Column("rate", ColumnType.NUMBER),
                ),
            ),
        ),
    ),
    Step(
        7,
        "request budgets' concurrency: each account's places, one row each (``n`` from 0), held by"
        " one request at a time across every process and machine on the ledger, until it ends"
        " or its hold runs out (a process that died)",
        (
            Table(
                "budget_places",
                (
                    _text("place", primary_key=True),
                    _text("key", not_null=True),
                    Column("n", ColumnType.NUMBER, not_null=True),
                    _text("holder"),
                    _time("until"),
                ),
            ),
            Index("budget_places_by_key", "budget_places", ("key", "n")),
        ),
    ),
    Step(
        8,
        "the caller's reference of a submission (an engine's own key of it: a Celery task's id, an"
        " Airflow task instance), so that a submit run again by its engine resumes the job it"
        " already made instead of making a second one; NULL for a submit that gave none",
        (
            AddColumn("jobs", _text("ref")),
            Index("jobs_by_ref", "jobs", ("provider", "ref"), where="ref IS NOT NULL"),
        ),
    ),
    Step(
        9,
        "how many status requests each job took, and how many requests about it were sent again"
        " (written with its looks that changed something, so counting costs no statement; NULL"
        " on the rows written before, and a floor: counts a process did not get to write go with"
        " it)",
        (
            AddColumn("jobs", Column("polls", ColumnType.NUMBER)),
            AddColumn("jobs", Column("retries", ColumnType.NUMBER)),
        ),
    ),
)

if len(MIGRATIONS) != SCHEMA_VERSION:  # a step appended: SCHEMA_VERSION (in _version) follows
    raise RuntimeError(
        f"the ledger declares {len(MIGRATIONS)} schema steps but SCHEMA_VERSION is "
        f"{SCHEMA_VERSION}: set it in asyncjobs/_ledger/_version.py"
    )


def _same(sql: str) -> str:
    return sql


@attrs.frozen
class Dialect:
    """How a backend spells the schema.

    Attributes:
        name: the backend's name (what :attr:`Index.only` names).
        types: each column type's name; a type left out is implicit (SQLite's rowid: the column is
            not declared).
        translate: the ledger's SQL (index conditions, backfills, ``rowid``) in this dialect.
    """

    name: str
    types: Mapping[ColumnType, str]
    translate: Callable[[str], str] = _same

    def statements(self, version: int) -> list[str]:
        """The statements that bring a ledger of ``version`` to :data:`SCHEMA_VERSION`."""
        return [sql for step in MIGRATIONS[version:] for sql in self.render_step(step)]

    def render_step(self, step: Step) -> list[str]:
        """One step's statements in this dialect."""
        out: list[str] = []
        for op in step.operations:
            if isinstance(op, Table):
                out.append(self._table(op))
            elif isinstance(op, Index):
                if op.only is None or self.name in op.only:
                    out.append(self._index(op))
            elif isinstance(op, AddColumn):
                column = self._column(op.column, has_key=True)
                if column is not None:
                    out.append(f"ALTER TABLE {op.table} ADD COLUMN {column}")
            else:
                out.append(self.translate(op.sql))
        return out

    def _column(self, column: Column, *, has_key: bool) -> str | None:
        kind = self.types.get(column.type)
        if kind is None:
            if column.type is not ColumnType.ORDER:
                raise TypeError(f"the {self.name} dialect names no {column.type.value} type")
            return None
        text = f"{self.translate(column.name)} {kind}"
        if column.type is ColumnType.ORDER:
            text += " UNIQUE" if has_key else " PRIMARY KEY"
        if column.primary_key:
            text += " PRIMARY KEY"
        if column.not_null:
            text += " NOT NULL"
        if column.references:
            text += f" REFERENCES {column.references}"
        return text

    def _table(self, table: Table) -> str:
        has_key = any(c.primary_key for c in table.columns)
        columns = [self._column(c, has_key=has_key) for c in table.columns]
        body = ",\n    ".join(c for c in columns if c is not None)
        return f"CREATE TABLE IF NOT EXISTS {table.name} (\n    {body}\n)"

    def _index(self, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        columns = ", ".join(self.translate(c) for c in index.columns)
        where = f" WHERE {self.translate(index.where)}" if index.where else ""
        return f"CREATE {unique}INDEX IF NOT EXISTS {index.name} ON {index.table}({columns}){where}"
