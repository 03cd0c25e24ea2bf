"""The writer: every change to the index, under the ordering rule and row locks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from db.models import JournalEntry, ObjectMetadata, TaskAttempt, utcnow
from s3meta.domain.attempts import Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.ordering import (
    FOUND_GONE,
    Knowledge,
    RecordType,
    Snapshot,
    Stamp,
    is_newer,
    record_type,
)
from s3meta.errors import (
    DatabaseError,
    DatabaseUnavailable,
    S3MetaError,
    SchemaNotMigrated,
)

# MySQL/MariaDB errors that say the server is away or busy, not that the query is wrong:
# too many connections, shutdown, lock wait timeout, deadlock, connection killed,
# can't connect, server gone away, lost connection.
_TRANSIENT_MYSQL_ERRORS = frozenset({1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 2055})
_NO_SUCH_TABLE_MYSQL = 1146
_DEADLOCK_MYSQL = 1213
_TRANSIENT_SQLITE_MESSAGES = ("database is locked", "database table is locked")
_INSERT_RACES = 3
_REMOVAL_PREFIXES = ("ObjectRemoved:", "LifecycleExpiration:")


class _InsertRace(Exception):
    """Two workers inserted the same new key; the loser starts its transaction again."""


def is_removal(event_name: str | None) -> bool:
    return bool(event_name) and str(event_name).startswith(_REMOVAL_PREFIXES)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of the task, for the attempts table."""

    task_id: str
    bucket: str
    key: str
    attempt: int
    outcome: str
    started_at: datetime
    finished_at: datetime
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What one task learned about one key: its state now, or that it is gone."""

    bucket: str
    key: str
    state: ObjectState | None  # None: HeadObject said the object does not exist
    event: EventInfo  # empty for a manual requeue
    observed_at: datetime  # when HeadObject was made
    task_id: str | None = None

    def stamp(self) -> Stamp:
        if self.state is not None:
            return Stamp(self.event.sequencer, self.state.last_modified)
        return Stamp(self.event.sequencer, self.removed_at(), self.removal_knowledge())

    def removal_knowledge(self) -> Knowledge:
        """Whether a removal event says when the object went, or only HeadObject's 404."""
        if self.event.event_time is not None and is_removal(self.event.event_name):
            return Knowledge.REMOVED
        return Knowledge.FOUND_GONE

    def removed_at(self) -> datetime:
        """When the object went: its removal event's time, else when we found it gone."""
        if self.event.event_time is not None and is_removal(self.event.event_name):
            return self.event.event_time
        return self.observed_at

    def removed_by(self) -> str:
        """The removal event's name, else ``FOUND_GONE``."""
        if is_removal(self.event.event_name):
            return str(self.event.event_name)
        return FOUND_GONE

    def shows_existence(self) -> bool:
        """Whether this change shows the object existed: HeadObject found it, or S3 sent an
        event only an existing object has. A removal event does not: S3 sends one for a
        DELETE of a key that does not exist (a versioned bucket adds a delete marker)."""
        if self.state is not None:
            return True
        return self.event.event_name is not None and not is_removal(self.event.event_name)

    def first_known_at(self, now: datetime) -> datetime:
        """When s3meta first knew of the key, for a new row: the event, else the look."""
        times = [now, self.observed_at]
        if self.event.event_time is not None:
            times.append(self.event.event_time)
        return min(times)


@dataclass(frozen=True, slots=True)
class Applied:
    """What ``MetadataStore.apply`` did."""

    outcome: Outcome  # succeeded, gone, or skipped: the row held newer knowledge
    record_type: RecordType | None = None  # the journal entry written, if any


class MetadataStore:
    """Writes ``object_metadata``, its journal and ``task_attempts``; ``db.reader`` reads them."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def apply(self, change: Change, attempt: Attempt | None = None) -> Applied:
        """Write ``change`` unless the row holds newer knowledge, atomically.

        The row is locked while the ordering rule (``s3meta.domain.ordering``) is applied,
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

    def save_state(
        self, state: ObjectState, event: EventInfo, task_id: str | None = None
    ) -> Applied:
        """``apply`` a live state observed now."""
        change = Change(state.bucket, state.key, state, event, utcnow(), task_id)
        return self.apply(change)

    def mark_deleted(
        self, bucket: str, key: str, event: EventInfo, task_id: str | None = None
    ) -> Applied:
        """``apply`` the object's removal, observed now."""
        return self.apply(Change(bucket, key, None, event, utcnow(), task_id))

    def record_attempt(self, attempt: Attempt) -> None:
        with self._transaction() as session:
            session.add(_attempt_row(attempt))

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A transaction, committed on success; database errors come out as s3meta's."""
        with _translated_errors(), self._sessions.begin() as session:
            yield session


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        raise translate_database_error(exc) from exc


def translate_database_error(exc: sa_exc.DBAPIError | sa_exc.TimeoutError) -> S3MetaError:
    """s3meta's error for a failed query: transient only if the server is away or busy."""
    if isinstance(exc, sa_exc.TimeoutError):
        return DatabaseUnavailable(f"no database connection free in the pool: {exc}")
    original = exc.orig
    detail = str(original) if original is not None else str(exc)
    code = _error_code(exc)
    if exc.connection_invalidated or code in _TRANSIENT_MYSQL_ERRORS:
        return DatabaseUnavailable(f"database unavailable: {detail}")
    if any(message in detail for message in _TRANSIENT_SQLITE_MESSAGES):
        return DatabaseUnavailable(f"database busy: {detail}")
    if code == _NO_SUCH_TABLE_MYSQL or "no such table" in detail:
        return SchemaNotMigrated(
            f"the database has no s3meta schema; run `alembic upgrade head` ({detail})"
        )
    return DatabaseError(f"database error: {detail}")


def _error_code(exc: sa_exc.DBAPIError) -> object:
    """The driver's error code (MySQL's number), if it has one."""
    original = exc.orig
    return original.args[0] if original is not None and original.args else None


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
    # A key never seen holds no knowledge that could be newer than anything.
    seen = row if row is not None and not row.never_seen else None
    stored = _stored_stamp(seen) if seen is not None else None
    if row is not None and not is_newer(change.stamp(), stored):
        if attempt is not None:
            session.add(_attempt_row(replace(attempt, outcome=Outcome.SKIPPED, finished_at=now)))
        return Applied(Outcome.SKIPPED)
    before = _snapshot(seen) if seen is not None else None
    if row is None:
        row = ObjectMetadata(
            bucket=change.bucket,
            object_key=change.key,
            is_deleted=False,
            never_seen=True,  # until _fill hears otherwise
            created_at=change.first_known_at(now),
        )
        _fill(row, change, now)
        session.add(row)
        try:
            session.flush()
        except sa_exc.IntegrityError as exc:
            raise _InsertRace from exc
        except sa_exc.OperationalError as exc:
            # InnoDB ends a deadlocked transaction whole: start it again.
            if _error_code(exc) == _DEADLOCK_MYSQL:
                raise _InsertRace from exc
            raise
    else:
        _fill(row, change, now)
    # Nothing happened to an object s3meta knows of: no journal entry for a key never seen.
    kind = None if row.never_seen else record_type(before, _snapshot(row))
    if kind is not None:
        session.add(_journal_entry(row, kind, change, now))
    outcome = Outcome.GONE if change.state is None else Outcome.SUCCEEDED
    if attempt is not None:
        session.add(_attempt_row(replace(attempt, outcome=outcome, finished_at=now)))
    return Applied(outcome, kind)


def _fill(row: ObjectMetadata, change: Change, now: datetime) -> None:
    """Write ``change`` into ``row``: the whole state if live, the removal if gone."""
    state, event = change.state, change.event
    if state is None:
        # The removal event itself, when it comes, says best when and how the object went.
        if not row.is_deleted or row.never_seen or is_removal(event.event_name):
            row.deleted_at = change.removed_at()
            row.deleted_by = change.removed_by()
        row.is_deleted = True
        # Once seen, a key stays seen: its row now says the object was deleted.
        row.never_seen = bool(row.never_seen) and not change.shows_existence()
    else:
        row.is_deleted = False
        row.never_seen = False
        row.deleted_at = None
        row.deleted_by = None
        same_content = (row.etag, row.version_id) == (state.etag, state.version_id)
        for name in _STATE_COLUMNS:
            # Tags are fetched only when asked for: unfetched ones of the same content stay.
            if name == "tags" and state.tags is None and same_content:
                continue
            setattr(row, name, getattr(state, name))
    # A manual requeue carries no event: the last event's fields stay.
    if event.event_name is not None:
        row.event_name = event.event_name
    if event.event_time is not None:
        row.event_time = event.event_time
    if event.sequencer is not None:
        row.sequencer = event.sequencer
    row.updated_at = now
    row.last_task_id = change.task_id


# Every field of ObjectState but its identity is a column of the same name.
_STATE_COLUMNS = tuple(f.name for f in fields(ObjectState) if f.name not in {"bucket", "key"})
_DETAIL_COLUMNS = tuple(name for name in _STATE_COLUMNS if name not in {"etag", "version_id"})


def _stored_stamp(row: ObjectMetadata) -> Stamp:
    if not row.is_deleted:
        return Stamp(row.sequencer, row.last_modified)
    # Rows written before FOUND_GONE existed name the upload whose task found the object gone.
    knowledge = Knowledge.REMOVED if is_removal(row.deleted_by) else Knowledge.FOUND_GONE
    return Stamp(row.sequencer, row.deleted_at, knowledge)


def _snapshot(row: ObjectMetadata) -> Snapshot:
    details = tuple(_comparable(getattr(row, name)) for name in _DETAIL_COLUMNS)
    return Snapshot(row.is_deleted, row.etag, row.version_id, details)


def _comparable(value: object) -> object:
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    return value


def _journal_entry(
    row: ObjectMetadata, kind: RecordType, change: Change, now: datetime
) -> JournalEntry:
    return JournalEntry(
        bucket=row.bucket,
        object_key=row.object_key,
        record_type=kind,
        version_id=row.version_id,
        etag=row.etag,
        size=row.size,
        sequencer=change.event.sequencer,
        event_name=change.event.event_name,
        event_time=change.event.event_time,
        applied_at=now,
        task_id=change.task_id,
    )
