"""Everything HeadObject says that the row did not keep: Content-Encoding, replication
status, checksum type, S3 Bucket Key, and the presentation headers (Cache-Control,
Content-Disposition, Content-Language, Expires, website redirect) in one JSON column.

Online: the columns are added with ALGORITHM=INSTANT on MySQL and MariaDB (``db.online``).
Existing rows read null until written again: ``s3meta backfill --only-missing`` queues
exactly those (``headers`` is null on them and on no row written since).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from db.online import add_columns, drop_columns

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("content_encoding", sa.String(255)),
        sa.Column("replication_status", sa.String(16)),
        sa.Column("checksum_type", sa.String(16)),
        sa.Column("bucket_key_enabled", sa.Boolean()),
        sa.Column("headers", sa.JSON()),
    ]


def upgrade() -> None:
    add_columns("object_metadata", _columns())


def downgrade() -> None:
    drop_columns("object_metadata", [column.name for column in _columns()])
