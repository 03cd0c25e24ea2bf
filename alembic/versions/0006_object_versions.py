"""Every version of a versioned bucket's keys: ``object_versions``, delete markers included,
with the columns of ``object_metadata``.

Online: a new table; nothing existing is altered. Versions of existing keys come from
``s3meta backfill --versions`` or from the next events; unversioned buckets write no rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MYSQL = ("mysql", "mariadb")


def upgrade() -> None:
    ascii_text = {"charset": "ascii", "collation": "ascii_bin"}
    when = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
    op.create_table(
        "object_versions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "bucket",
            sa.String(63).with_variant(mysql.VARCHAR(63, **ascii_text), *_MYSQL),
            nullable=False,
        ),
        sa.Column(
            "object_key",
            sa.String(1024).with_variant(mysql.VARBINARY(1024), *_MYSQL),
            nullable=False,
        ),
        sa.Column(
            "version_id",
            sa.String(1024).with_variant(mysql.VARCHAR(1024, **ascii_text), *_MYSQL),
            nullable=False,
        ),
        sa.Column("is_delete_marker", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger()),
        sa.Column("etag", sa.String(128)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("last_modified", when),
        sa.Column("storage_class", sa.String(32)),
        sa.Column("user_metadata", sa.JSON()),
        sa.Column("sequencer", sa.String(64)),
        sa.Column("event_name", sa.String(64)),
        sa.Column("event_time", when),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", when),
        sa.Column("deleted_by", sa.String(64)),
        sa.Column("never_seen", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("checksum_algorithm", sa.String(16)),
        sa.Column("checksum_value", sa.String(128)),
        sa.Column("server_side_encryption", sa.String(32)),
        sa.Column("sse_kms_key_id", sa.String(2048)),
        sa.Column("object_lock_mode", sa.String(16)),
        sa.Column("object_lock_retain_until", when),
        sa.Column("object_lock_legal_hold", sa.String(8)),
        sa.Column("restore_status", sa.String(255)),
        sa.Column("parts_count", sa.Integer()),
        sa.Column("tags", sa.JSON()),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.Column("last_task_id", sa.String(155)),
        sa.Column("content_encoding", sa.String(255)),
        sa.Column("replication_status", sa.String(16)),
        sa.Column("checksum_type", sa.String(16)),
        sa.Column("bucket_key_enabled", sa.Boolean()),
        sa.Column("headers", sa.JSON()),
        sa.Column("principal_id", sa.String(512)),
        sa.Column("source_ip_address", sa.String(64)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("host_id", sa.String(256)),
        sa.Column("configuration_id", sa.String(256)),
        sa.UniqueConstraint(
            "bucket", "object_key", "version_id", name="uq_object_versions_bucket_key_version"
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    op.drop_table("object_versions")
