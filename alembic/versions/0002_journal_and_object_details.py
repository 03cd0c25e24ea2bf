"""Journal of applied changes; checksum, encryption, object lock, restore, parts and tags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
ObjectKey = sa.String(1024).with_variant(mysql.VARBINARY(1024), *_MYSQL)
BucketName = sa.String(63).with_variant(
    mysql.VARCHAR(63, charset="ascii", collation="ascii_bin"), *_MYSQL
)


def new_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("deleted_by", sa.String(64), nullable=True),
        sa.Column("checksum_algorithm", sa.String(16), nullable=True),
        sa.Column("checksum_value", sa.String(128), nullable=True),
        sa.Column("server_side_encryption", sa.String(32), nullable=True),
        sa.Column("sse_kms_key_id", sa.String(2048), nullable=True),
        sa.Column("object_lock_mode", sa.String(16), nullable=True),
        sa.Column("object_lock_retain_until", Timestamp, nullable=True),
        sa.Column("object_lock_legal_hold", sa.String(8), nullable=True),
        sa.Column("restore_status", sa.String(255), nullable=True),
        sa.Column("parts_count", sa.Integer(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("object_metadata") as table:
        for column in new_columns():
            table.add_column(column)
    op.create_table(
        "object_journal",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("bucket", BucketName, nullable=False),
        sa.Column("object_key", ObjectKey, nullable=False),
        sa.Column("record_type", sa.String(16), nullable=False),
        sa.Column("version_id", sa.String(1024), nullable=True),
        sa.Column("etag", sa.String(128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sequencer", sa.String(64), nullable=True),
        sa.Column("event_name", sa.String(64), nullable=True),
        sa.Column("event_time", Timestamp, nullable=True),
        sa.Column("applied_at", Timestamp, nullable=False),
        sa.Column("task_id", sa.String(155), nullable=True),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index(
        "ix_object_journal_bucket_object_key", "object_journal", ["bucket", "object_key"]
    )


def downgrade() -> None:
    op.drop_index("ix_object_journal_bucket_object_key", table_name="object_journal")
    op.drop_table("object_journal")
    with op.batch_alter_table("object_metadata") as table:
        for column in reversed(new_columns()):
            table.drop_column(column.name)
