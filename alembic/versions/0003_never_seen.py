"""Keys never seen in S3 (a requeue or removal event for a key s3meta never found) apart
from deleted objects; removals found by HeadObject named as such.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOUND_GONE = "HeadObject:NotFound"
_REMOVALS = ("ObjectRemoved:%", "LifecycleExpiration:%")


def upgrade() -> None:
    with op.batch_alter_table("object_metadata") as table:
        table.add_column(
            sa.Column("never_seen", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    rows = sa.table(
        "object_metadata",
        sa.column("is_deleted", sa.Boolean()),
        sa.column("last_modified", sa.DateTime()),
        sa.column("event_name", sa.String(64)),
        sa.column("deleted_by", sa.String(64)),
        sa.column("never_seen", sa.Boolean()),
    )

    def removal(column: sa.ColumnClause[str]) -> sa.ColumnElement[bool]:
        return sa.or_(*(column.like(pattern) for pattern in _REMOVALS))

    # A deleted row that never held a live state (a deletion keeps the last one) and whose
    # last event, if any, was a removal: nothing ever showed the object existed.
    op.execute(
        rows.update()
        .where(
            rows.c.is_deleted.is_(True),
            rows.c.last_modified.is_(None),
            sa.or_(rows.c.event_name.is_(None), removal(rows.c.event_name)),
        )
        .values(never_seen=True)
    )
    # Deletions recorded without a removal event were found by HeadObject; they named the
    # event of the task that looked (or nothing, for a requeue).
    op.execute(
        rows.update()
        .where(
            rows.c.is_deleted.is_(True),
            rows.c.never_seen.is_(False),
            sa.or_(rows.c.deleted_by.is_(None), sa.not_(removal(rows.c.deleted_by))),
        )
        .values(deleted_by=FOUND_GONE)
    )


def downgrade() -> None:
    with op.batch_alter_table("object_metadata") as table:
        table.drop_column("never_seen")
