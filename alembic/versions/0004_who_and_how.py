"""Who made each change and how: the requester, source IP, request ids and notification
configuration of the event, on each journal entry and (the last one's) on the row.

Online: the columns are added with ALGORITHM=INSTANT on MySQL and MariaDB (``db.online``),
a change of the tables' metadata only; existing rows read null, as requeues do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from db.online import add_columns, drop_columns

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in s3meta.domain.provenance, at the time of this revision.
_WIDTHS = {
    "principal_id": 512,
    "source_ip_address": 64,
    "request_id": 64,
    "host_id": 256,
    "configuration_id": 256,
}
_TABLES = ("object_metadata", "object_journal")


def upgrade() -> None:
    for table in _TABLES:
        add_columns(table, [sa.Column(name, sa.String(width)) for name, width in _WIDTHS.items()])


def downgrade() -> None:
    for table in _TABLES:
        drop_columns(table, list(_WIDTHS))
