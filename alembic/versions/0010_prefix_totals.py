"""Prefix totals: objects and bytes per prefix and storage class, in shards.

Online: a new table, created empty at once; no existing table is touched. The writer keeps
the totals from the first change on; ``s3meta reconcile --totals s3://BUCKET`` counts the
rows that were there before (online too: see docs/architecture.md, "Prefix totals").

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0010"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "prefix_totals",
        sa.Column(
            "bucket",
            sa.String(63).with_variant(
                mysql.VARCHAR(63, charset="ascii", collation="ascii_bin"), *_MYSQL
            ),
            nullable=False,
        ),
        sa.Column(
            "prefix", sa.String(1024).with_variant(mysql.VARBINARY(1024), *_MYSQL), nullable=False
        ),
        sa.Column("storage_class", sa.String(32), nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("depth", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("byte_count", sa.BigInteger(), nullable=False),
        # The depth before the prefix: du reads one range of the clustered index per level.
        sa.PrimaryKeyConstraint("bucket", "depth", "prefix", "storage_class", "shard"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("prefix_totals")
