"""Object metadata, task attempts and Celery's result tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Types frozen here as they were at this revision, not imported from the models.
_MYSQL = ("mysql", "mariadb")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
# S3 keys compare byte-wise; VARBINARY(1024) does too and fits a unique index.
ObjectKey = sa.String(1024).with_variant(mysql.VARBINARY(1024), *_MYSQL)
BucketName = sa.String(63).with_variant(
    mysql.VARCHAR(63, charset="ascii", collation="ascii_bin"), *_MYSQL
)
LongText = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
LongBlob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)

# Celery's database backend draws ids from these on MariaDB >= 10.3 (its models name them).
CELERY_SEQUENCES = ("task_id_sequence", "taskset_id_sequence")


def upgrade() -> None:
    op.create_table(
        "object_metadata",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("bucket", BucketName, nullable=False),
        sa.Column("object_key", ObjectKey, nullable=False),
        sa.Column("version_id", sa.String(1024), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("etag", sa.String(128), nullable=True),
        sa.Column("content_type", sa.String(255), nullable=True),
        sa.Column("last_modified", Timestamp, nullable=True),
        sa.Column("storage_class", sa.String(32), nullable=True),
        sa.Column("user_metadata", sa.JSON(), nullable=True),
        sa.Column("sequencer", sa.String(64), nullable=True),
        sa.Column("event_name", sa.String(64), nullable=True),
        sa.Column("event_time", Timestamp, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("last_task_id", sa.String(155), nullable=True),
        sa.UniqueConstraint("bucket", "object_key", name="uq_object_metadata_bucket_object_key"),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_table(
        "task_attempts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(155), nullable=False),
        sa.Column("bucket", BucketName, nullable=False),
        sa.Column("object_key", ObjectKey, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(128), nullable=True),
        sa.Column("error", LongText, nullable=True),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp, nullable=False),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_task_attempts_bucket_object_key", "task_attempts", ["bucket", "object_key"])
    op.create_index(
        "ix_task_attempts_outcome_finished_at", "task_attempts", ["outcome", "finished_at"]
    )
    op.create_index("ix_task_attempts_task_id", "task_attempts", ["task_id"])

    if op.get_bind().dialect.supports_sequences:
        for name in CELERY_SEQUENCES:
            op.execute(sa.schema.CreateSequence(sa.Sequence(name)))
    op.create_table(
        "celery_taskmeta",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(155), nullable=True),
        sa.Column("status", sa.String(50), nullable=True),
        sa.Column("result", LongBlob, nullable=True),
        sa.Column("date_done", sa.DateTime(), nullable=True),
        sa.Column("traceback", LongText, nullable=True),
        sa.Column("children", LongBlob, nullable=True),
        sa.Column("name", sa.String(155), nullable=True),
        sa.Column("args", LongBlob, nullable=True),
        sa.Column("kwargs", LongBlob, nullable=True),
        sa.Column("worker", sa.String(155), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=True),
        sa.Column("queue", sa.String(155), nullable=True),
        sa.Column("stamps", LongBlob, nullable=True),
        sa.UniqueConstraint("task_id"),
        sqlite_autoincrement=True,
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_celery_taskmeta_date_done", "celery_taskmeta", ["date_done"])
    op.create_table(
        "celery_tasksetmeta",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("taskset_id", sa.String(155), nullable=True),
        sa.Column("result", LongBlob, nullable=True),
        sa.Column("date_done", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("taskset_id"),
        sqlite_autoincrement=True,
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_celery_tasksetmeta_date_done", "celery_tasksetmeta", ["date_done"])


def downgrade() -> None:
    op.drop_index("ix_celery_tasksetmeta_date_done", table_name="celery_tasksetmeta")
    op.drop_table("celery_tasksetmeta")
    op.drop_index("ix_celery_taskmeta_date_done", table_name="celery_taskmeta")
    op.drop_table("celery_taskmeta")
    if op.get_bind().dialect.supports_sequences:
        for name in CELERY_SEQUENCES:
            op.execute(sa.schema.DropSequence(sa.Sequence(name)))
    op.drop_table("task_attempts")
    op.drop_table("object_metadata")
