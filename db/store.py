"""The writer: every change to the index, under the ordering rule and row locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from db.errors import DEADLOCK_MYSQL, error_code, translated_errors
from db.models import JournalEntry, ObjectMetadata, TaskAttempt, utcnow
from s3meta.domain.attempts import Attempt
from s3meta.domain.records import JournalRecord, ObjectRecord
from s3meta.domain.transitions import Applied, Change, transition
from s3meta.errors import DatabaseUnavailable

_INSERT_RACES = 3


class _InsertRace(Exception):
    """Two workers inserted the same new key; the loser starts its transaction again."""


class MetadataStore:
    """Writes ``object_metadata``, its journal and ``task_attempts``; ``db.reader`` reads them."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def apply(self, change: Change, attempt: Attempt | None = None) -> Applied:
        """Write ``change`` unless the row holds newer knowledge, atomically.

        The row is locked while the write rule (``s3meta.domain.transitions``) decides,
        so concurrent workers on one key cannot interleave. The journal entry and
        ``attempt`` (its outcome and end time filled in here) are written in the same
        transaction.
        """
        for _ in range(_INSERT_RACES):
            try:
                with self._transaction() as session:
                    return _apply_locked(session, change, attempt)
            except _InsertRace:
                continue  # another worker created the row first: lock it and decide again
        raise DatabaseUnavailable(f"s3://{change.bucket}/{change.key}: kept losing insert races")

    def record_attempt(self, attempt: Attempt) -> None:
        with self._transaction() as session:
            session.add(_attempt_row(attempt))

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A transaction, committed on success; database errors come out as s3meta's."""
        with translated_errors(), self._sessions.begin() as session:
            yield session


def _attempt_row(attempt: Attempt) -> TaskAttempt:
    return TaskAttempt(
        task_id=attempt.task_id,
        bucket=attempt.bucket,
        object_key=attempt.key,
        attempt=attempt.attempt,
        outcome=attempt.outcome,
        error_type=attempt.error_type,
        error=attempt.error,
        started_at=attempt.started_at,
        finished_at=attempt.finished_at,
    )


def _apply_locked(session: Session, change: Change, attempt: Attempt | None) -> Applied:
    row = session.scalars(
        sa.select(ObjectMetadata)
        .where(ObjectMetadata.bucket == change.bucket, ObjectMetadata.object_key == change.key)
        .with_for_update()
    ).one_or_none()
    now = utcnow()
    decided = transition(_record(row) if row is not None else None, change, now)
    if decided.record is not None:
        if row is None:
            session.add(ObjectMetadata(**_columns(decided.record)))
            try:
                session.flush()
            except sa_exc.IntegrityError as exc:
                raise _InsertRace from exc
            except sa_exc.OperationalError as exc:
                # InnoDB ends a deadlocked transaction whole: start it again.
                if error_code(exc) == DEADLOCK_MYSQL:
                    raise _InsertRace from exc
                raise
        else:
            for column, value in _columns(decided.record).items():
                setattr(row, column, value)
    if decided.journal is not None:
        session.add(JournalEntry(**_columns(decided.journal)))
    if attempt is not None:
        session.add(_attempt_row(attempt.ended(decided.outcome, now)))
    return decided.applied()


def _record(row: ObjectMetadata) -> ObjectRecord:
    return ObjectRecord(**{f.name: getattr(row, f.name) for f in fields(ObjectRecord)})


def _columns(record: ObjectRecord | JournalRecord) -> dict[str, Any]:
    """``record``'s values by column: each field is the column of its name."""
    return {f.name: getattr(record, f.name) for f in fields(record)}
