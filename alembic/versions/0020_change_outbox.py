"""The change feed's outbox: journal entries yet to be published to S3META_CHANGE_TOPIC.

Online: a new table; nothing existing is altered.

Revision ID: 0020
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0020"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("journal_id", sa.BigInteger(), nullable=False),
        sa.Column("key_hash", sa.BigInteger(), nullable=False),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
    )
    op.create_index("ix_change_outbox_key_hash_id", "change_outbox", ["key_hash", "id"])


def downgrade() -> None:
    op.drop_index("ix_change_outbox_key_hash_id", table_name="change_outbox")
    op.drop_table("change_outbox")
