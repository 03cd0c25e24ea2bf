"""Schema changes that never copy or lock a big table, for the Alembic revisions.

On MySQL and MariaDB a column is added or dropped with ``ALGORITHM=INSTANT``: a change of
the table's metadata alone, whatever its row count, and the server refuses (an error, not
a silent table copy) any change it cannot make so. Elsewhere (SQLite, for tests and the
demo) Alembic's batch mode does it. The new columns are nullable without defaults, so
existing rows hold null until a backfill fills them (README, "Adding columns").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.schema import CreateColumn

from alembic import op

_MYSQL = ("mysql", "mariadb")


def is_mysql() -> bool:
    """Whether the migration runs on MySQL or MariaDB (online or offline)."""
    return op.get_context().dialect.name in _MYSQL


def add_columns(table: str, columns: Sequence[sa.Column[object]]) -> None:
    """Add ``columns`` (nullable, no default) to ``table`` instantly, in one statement."""
    if any(not column.nullable or column.server_default is not None for column in columns):
        raise ValueError("an instant column is nullable and has no server default")
    if not is_mysql():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.add_column(column)
        return
    dialect = op.get_context().dialect
    added = ", ".join(
        f"ADD COLUMN {CreateColumn(column).compile(dialect=dialect)}" for column in columns
    )
    op.execute(f"ALTER TABLE {_quote(table)} {added}, ALGORITHM=INSTANT")


def drop_columns(table: str, names: Sequence[str]) -> None:
    """Drop the columns ``names`` of ``table``, instantly on MySQL and MariaDB."""
    if not is_mysql():
        with op.batch_alter_table(table) as batch:
            for name in names:
                batch.drop_column(name)
        return
    dropped = ", ".join(f"DROP COLUMN {_quote(name)}" for name in names)
    op.execute(f"ALTER TABLE {_quote(table)} {dropped}, ALGORITHM=INSTANT")


def _quote(name: str) -> str:
    return op.get_context().dialect.identifier_preparer.quote(name)
