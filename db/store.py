"""The writer: every change to the index, under the ordering rule and row locks.

A task's write is one transaction of three round trips on MySQL: the key's row locked and
read (``SELECT … FOR UPDATE``), then every write in one query (``db.together``: the row,
its prefix totals' deltas, the journal entry and its change-feed outbox row, the attempt and
the task's result, in the task runner's table), then COMMIT.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from functools import cached_property
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine

from db import together
from db.errors import DEADLOCK_MYSQL, error_code, translate_database_error, translated_errors
from db.models import Base, JournalEntry, ObjectMetadata, ObjectVersion, TaskAttempt, utcnow
from db.outbox import outbox_statement, outbox_write
from db.together import Write
from db.totals import delta_write
from s3meta.domain.attempts import Attempt
from s3meta.domain.records import (
    AttemptRecord,
    JournalRecord,
    ObjectRecord,
    TaskResultRecord,
    VersionRecord,
)
from s3meta.domain.totals import TotalsRule, deltas
from s3meta.domain.transitions import Applied, Change, transition
from s3meta.domain.versions import version_fields, versioned_transition
from s3meta.errors import DatabaseUnavailable

DEFAULT_TOTALS = TotalsRule()
_RESTARTS = 3  # insert races and deadlocks a write starts again after
_OBJECTS = Base.metadata.tables[ObjectMetadata.__tablename__]
_JOURNAL = Base.metadata.tables[JournalEntry.__tablename__]
_ATTEMPTS = Base.metadata.tables[TaskAttempt.__tablename__]
_VERSIONS = Base.metadata.tables[ObjectVersion.__tablename__]
_VERSION_COLUMNS = version_fields()
_RECORD_COLUMNS = tuple(field.name for field in fields(ObjectRecord))
_JOURNAL_COLUMNS = tuple(field.name for field in fields(JournalRecord))
_ATTEMPT_COLUMNS = tuple(field.name for field in fields(AttemptRecord))
_LOCK = (
    sa.select(_OBJECTS)
    .where(
        _OBJECTS.c.bucket == sa.bindparam("bucket"), _OBJECTS.c.object_key == sa.bindparam("key")
    )
    .with_for_update()
)
# A versioned change's key: every version recorded, locked (the key's row is locked first).
_LOCK_VERSIONS = (
    sa.select(_VERSIONS)
    .where(
        _VERSIONS.c.bucket == sa.bindparam("bucket"),
        _VERSIONS.c.object_key == sa.bindparam("key"),
    )
    .with_for_update()
)
T = TypeVar("T")
ResultFor = Callable[[Applied], TaskResultRecord]


class ResultRows(Protocol):
    """The task runner's table of results, written in the transaction of the task's rows."""

    def write(self, record: TaskResultRecord, dialect: Dialect) -> Write:
        """The write that stores ``record`` on ``dialect``."""
        ...


class _Restart(Exception):
    """Nothing of the transaction stands: start it again (``reason`` if it keeps happening)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MetadataStore:
    """Writes ``object_metadata``, its journal, ``task_attempts`` and, given ``results``, a
    task's result; with ``feed``, each journal entry's row in the change feed's outbox
    (``db.outbox``). ``db.reader`` reads them."""

    def __init__(
        self,
        engine: Engine,
        results: ResultRows | None = None,
        totals: TotalsRule = DEFAULT_TOTALS,
        *,
        feed: bool = False,
    ) -> None:
        self._engine = engine
        self._results = results
        self._totals = totals
        self._feed = feed

    def apply(
        self, change: Change, attempt: Attempt | None = None, result: ResultFor | None = None
    ) -> Applied:
        """Write ``change`` unless the row holds newer knowledge, atomically.

        The row is locked while the write rule (``s3meta.domain.transitions``) decides,
        so concurrent workers on one key cannot interleave. The journal entry, ``attempt``
        (its outcome and end time filled in here) and the task's result (``result`` of what
        was decided, in the store's ``results``) are written in the same transaction.
        """
        if result is not None and self._results is None:
            raise TypeError("this store was built without results: it cannot write a result")
        return self._in_transaction(
            lambda connection: self._apply(connection, change, attempt, result)
        )

    def record_attempt(self, attempt: Attempt) -> None:
        def write(connection: sa.Connection) -> None:
            _first(connection, lambda: together.execute(connection, [self._attempt(attempt)]))

        self._in_transaction(write)

    def _in_transaction(self, work: Callable[[sa.Connection], T]) -> T:
        """``work`` in a transaction, committed; database errors come out as s3meta's.

        Started again when nothing of it stands: a pooled connection the server had dropped
        (found at the first statement, as no ping precedes it), another worker's insert of
        the same new key, a deadlock (InnoDB rolls the whole transaction back).
        """
        reason = ""
        for _ in range(_RESTARTS + 1):
            try:
                with translated_errors(), self._engine.begin() as connection:
                    return work(connection)
            except _Restart as restart:
                reason = restart.reason
        raise DatabaseUnavailable(reason)

    def _apply(
        self,
        connection: sa.Connection,
        change: Change,
        attempt: Attempt | None,
        result: ResultFor | None,
    ) -> Applied:
        found = _first(
            connection,
            lambda: connection.execute(_LOCK, {"bucket": change.bucket, "key": change.key}),
        ).first()
        now = utcnow()
        stored = _record(found._mapping) if found is not None else None
        # Versioned buckets only: their versions, and the version's write (one more read).
        versions = _versions(connection, change) if change.version_id() else None
        if versions is None:
            decided = transition(stored, change, now)
        else:
            known = [version for _, version in versions.values()]
            decided = versioned_transition(stored, known, change, now)
        applied = decided.applied()
        writes: list[Write] = []
        inserts = decided.record is not None and found is None
        if decided.version is not None and versions is not None:
            inserts = self._version_write(decided.version, versions, writes) or inserts
        if decided.record is not None:
            row = _values(decided.record, _RECORD_COLUMNS)
            if found is None:
                writes.append(Write(self._statements.insert_object, row))
            else:
                writes.append(Write(self._statements.update_object, {**row, "id": found.id}))
        writes += self._total_writes(stored, decided.record)
        if decided.journal is not None:
            writes.append(
                Write(self._statements.insert_journal, _values(decided.journal, _JOURNAL_COLUMNS))
            )
            writes += self._outbox(decided.journal)  # right after: it takes the entry's id
        if attempt is not None:
            writes.append(self._attempt(attempt.ended(decided.outcome, now)))
        if result is not None and self._results is not None:
            writes.append(self._results.write(result(applied), connection.dialect))
        _write(connection, writes, change, inserts)
        return applied

    def _outbox(self, entry: JournalRecord) -> list[Write]:
        """The change feed's outbox row of ``entry``, if the feed is on."""
        return [outbox_write(self._statements.insert_outbox, entry)] if self._feed else []

    def _version_write(
        self,
        version: VersionRecord,
        versions: dict[str, tuple[int, VersionRecord]],
        writes: list[Write],
    ) -> bool:
        """Add ``version``'s write to ``writes``; True if it is an insert."""
        row = _values(version, _VERSION_COLUMNS)
        stored = versions.get(str(version.version_id))
        if stored is None:
            writes.append(Write(self._statements.insert_version, row))
            return True
        writes.append(Write(self._statements.update_version, {**row, "id": stored[0]}))
        return False

    def _total_writes(self, before: ObjectRecord | None, after: ObjectRecord | None) -> list[Write]:
        """The prefix totals' write for a key's record going from ``before`` to ``after``."""
        if after is None:
            return []
        write = delta_write(deltas(self._totals, before, after), self._engine.dialect)
        return [] if write is None else [write]

    def _attempt(self, attempt: Attempt) -> Write:
        return Write(self._statements.insert_attempt, _attempt_row(attempt))

    @cached_property
    def _statements(self) -> _Statements:
        return _Statements(self._engine.dialect)


class _Statements:
    """The writer's statements on one dialect."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self.insert_object = together.insert(_OBJECTS, _RECORD_COLUMNS, dialect)
        self.update_object = together.update(_OBJECTS, _RECORD_COLUMNS, "id", dialect)
        self.insert_journal = together.insert(_JOURNAL, _JOURNAL_COLUMNS, dialect)
        self.insert_attempt = together.insert(_ATTEMPTS, _ATTEMPT_COLUMNS, dialect)
        self.insert_outbox = outbox_statement(dialect)
        self.insert_version = together.insert(_VERSIONS, _VERSION_COLUMNS, dialect)
        self.update_version = together.update(_VERSIONS, _VERSION_COLUMNS, "id", dialect)


def _first(connection: sa.Connection, statement: Callable[[], T]) -> T:
    """The transaction's first statement: a connection found dead restarts it."""
    try:
        return statement()
    except sa_exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise _Restart(str(translate_database_error(exc))) from exc
        raise


def _write(
    connection: sa.Connection, writes: Sequence[Write], change: Change, inserts: bool
) -> None:
    try:
        together.execute(connection, writes)
    except sa_exc.IntegrityError as exc:
        if inserts:  # another worker created the row first: lock it and decide again
            raise _Restart(f"s3://{change.bucket}/{change.key}: kept losing insert races") from exc
        raise
    except sa_exc.OperationalError as exc:
        if error_code(exc) == DEADLOCK_MYSQL:
            raise _Restart(str(translate_database_error(exc))) from exc
        raise


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "task_id": attempt.task_id,
        "bucket": attempt.bucket,
        "object_key": attempt.key,
        "attempt": attempt.attempt,
        "outcome": attempt.outcome,
        "error_type": attempt.error_type,
        "error": attempt.error,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
    }


def _values(record: object, columns: Sequence[str]) -> dict[str, Any]:
    """``record``'s values by column: each field is the column of its name."""
    return {name: getattr(record, name) for name in columns}


def _versions(connection: sa.Connection, change: Change) -> dict[str, tuple[int, VersionRecord]]:
    """The key's versions, locked: by version id, each with its row's id."""
    rows = connection.execute(_LOCK_VERSIONS, {"bucket": change.bucket, "key": change.key})
    return {
        str(row.version_id): (
            int(row.id),
            VersionRecord(**{name: row._mapping[name] for name in _VERSION_COLUMNS}),
        )
        for row in rows
    }


def _record(row: sa.RowMapping) -> ObjectRecord:
    return ObjectRecord(**{name: row[name] for name in _RECORD_COLUMNS})
