"""The change feed's outbox: rows written with their journal entries, taken by relays.

The writer (``db.store``) adds ``outbox_write`` right after a journal entry's insert, in the
same query: the row takes the entry's id from the connection (``LAST_INSERT_ID()``), so it
costs no round trip of its own. A relay's round (``OutboxTable.take``) is one transaction:
the oldest rows no other relay holds are locked (``FOR UPDATE SKIP LOCKED``: MariaDB 10.6+,
MySQL 8), their entries read, the ones this relay may publish handed to ``send``, and the
rows of those it published deleted (one query of a delete per row, ``db.together``: the
engine is a ``writer_engine``) at the commit. A relay that dies before the commit
leaves its rows, unlocked, to the next: at least once, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from db import together
from db.errors import translated_errors
from db.models import Base, ChangeOutbox, JournalEntry
from db.together import Statement, Write
from s3meta.domain.changes import PendingChange, key_hash, owned
from s3meta.domain.records import JournalRecord

_OUTBOX = Base.metadata.tables[ChangeOutbox.__tablename__]
_JOURNAL = Base.metadata.tables[JournalEntry.__tablename__]
_ENTRY_COLUMNS = tuple(field.name for field in fields(JournalRecord))
# The id the connection's last INSERT generated: the journal entry's, inserted just before.
_LAST_ID = {"sqlite": "last_insert_rowid()"}
# Given the changes claimed, in order: the outbox ids published (their rows are deleted).
Send = Callable[[Sequence[PendingChange]], Sequence[int]]


def outbox_statement(dialect: Dialect) -> Statement:
    """``INSERT INTO change_outbox``, the journal id being the one just generated."""
    quote = dialect.identifier_preparer.quote
    last_id = _LAST_ID.get(dialect.name, "LAST_INSERT_ID()")
    placeholder = together.placeholder(_OUTBOX, "key_hash")
    sql = (
        f"INSERT INTO {quote(_OUTBOX.name)} ({quote('journal_id')}, {quote('key_hash')}) "  # noqa: S608 - our names
        f"VALUES ({last_id}, :{placeholder})"
    )
    return Statement(sql, together.binds(_OUTBOX, ["key_hash"]))


def outbox_write(statement: Statement, entry: JournalRecord) -> Write:
    """The outbox row of ``entry``: to run right after the entry's insert, on its connection."""
    return Write(statement, {"key_hash": key_hash(entry.bucket, entry.object_key)})


class OutboxTable:
    """The outbox as a relay sees it (``s3meta.relay.Outbox``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def take(self, limit: int, send: Send) -> int:
        """Claim up to ``limit`` of the oldest rows, ``send`` the changes this relay may
        publish, delete the rows of those sent; how many rows were claimed."""
        with translated_errors(), self._engine.begin() as connection:
            claimed = connection.execute(
                sa.select(_OUTBOX.c.id, _OUTBOX.c.journal_id, _OUTBOX.c.key_hash)
                .order_by(_OUTBOX.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not claimed:
                return 0
            entries = _entries(connection, [row.journal_id for row in claimed])
            changes = [
                PendingChange(row.id, row.journal_id, entries[row.journal_id])
                for row in claimed
                if row.journal_id in entries
            ]
            # An entry gone from the journal (purged by hand) has nothing left to publish.
            done = [row.id for row in claimed if row.journal_id not in entries]
            mine = set(owned(changes, _earliest_elsewhere(connection, claimed)))
            done += send([change for change in changes if change.outbox_id in mine])
            if done:
                deletes = [_deletion(number, row_id) for number, row_id in enumerate(done)]
                together.execute(connection, deletes)
            return len(claimed)

    def pending(self) -> int:
        """Rows waiting to be published."""
        with translated_errors(), self._engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(_OUTBOX)).one()[0])


def _deletion(number: int, row_id: int) -> Write:
    """The delete of row ``row_id``, its placeholder numbered to share a query with others.

    One statement per row, by primary key: a ``DELETE … WHERE id IN (…)`` of most of a small
    table is run as a scan, which waits on the rows other relays hold (and deadlocks them).
    """
    return Write(_delete_statement(number), {"id": row_id})


@lru_cache(maxsize=1024)
def _delete_statement(number: int) -> Statement:
    name = f"{together.placeholder(_OUTBOX, 'id')}_{number}"
    sql = f"DELETE FROM {_OUTBOX.name} WHERE id = :{name}"  # noqa: S608 - our names
    return Statement(sql, (("id", name, _OUTBOX.c.id.type),))


def _entries(connection: sa.Connection, ids: Sequence[int]) -> dict[int, JournalRecord]:
    columns = [_JOURNAL.c[name] for name in _ENTRY_COLUMNS]
    rows = connection.execute(sa.select(_JOURNAL.c.id, *columns).where(_JOURNAL.c.id.in_(ids)))
    return {row.id: JournalRecord(*row[1:]) for row in rows}


def _earliest_elsewhere(
    connection: sa.Connection, claimed: Sequence[sa.Row[Any, Any, Any]]
) -> dict[int, int]:
    """By key hash of the claimed rows, the earliest row of that hash not claimed: locked by
    another relay (or deleted by one, not yet committed)."""
    hashes = sorted({row.key_hash for row in claimed})
    ids = [row.id for row in claimed]
    query = (
        sa.select(_OUTBOX.c.key_hash, sa.func.min(_OUTBOX.c.id))
        .where(_OUTBOX.c.key_hash.in_(hashes), _OUTBOX.c.id.not_in(ids), _OUTBOX.c.id < max(ids))
        .group_by(_OUTBOX.c.key_hash)
    )
    return {int(row[0]): int(row[1]) for row in connection.execute(query)}
