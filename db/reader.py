"""Every read of the index: objects, their journal and attempts, and the operators' counts.

Apart from ``db.store``, the writer, which alone takes row locks. A reader never writes and
never locks, so its engine may point to a read replica. Each call runs short queries on a
connection of its own, returned before anything is handed back: listings go by keyset
pagination, a query per page, so no connection is held while the caller works and memory
stays flat. Database errors come out as s3meta's (``translate_database_error``), as the
writer's do. What comes back are the plain records of ``s3meta.records``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from types import MappingProxyType
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, aliased

from db.engine import open_engine
from db.errors import translated_errors
from db.models import JournalEntry, ObjectMetadata, ObjectVersion, TaskAttempt
from s3meta.domain.attempts import Outcome
from s3meta.domain.records import (
    MAPPING_FIELDS,
    AttemptRecord,
    BucketRows,
    FailedKey,
    JournalRecord,
    ObjectFilter,
    ObjectPage,
    ObjectRecord,
    Position,
    Share,
    VersionRecord,
)
from s3meta.domain.versions import in_order, version_fields

# Objects (or failed keys) per query when streaming: one short query per page, no cursor
# held open while the caller works.
PAGE_SIZE = 500
# Enough of the error to recognise it in a listing; the full text is in task_attempts.
_ERROR_EXCERPT = 200

_Record = TypeVar("_Record", JournalRecord, AttemptRecord)


class ObjectReader:
    """Reads ``object_metadata``, ``object_journal`` and ``task_attempts`` through ``engine``."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def ping(self) -> None:
        """Raise s3meta's error unless the database answers a query."""
        with self._connection() as connection:
            connection.execute(sa.text("SELECT 1"))

    def get(self, bucket: str, key: str) -> ObjectRecord | None:
        """The object's row, or None if there is none."""
        query = _OBJECTS.where(ObjectMetadata.bucket == bucket, ObjectMetadata.object_key == key)
        with self._connection() as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else _object(row)

    def page(
        self,
        where: ObjectFilter,
        *,
        after: Position | None = None,
        limit: int = PAGE_SIZE,
        scan: int | None = None,
    ) -> ObjectPage:
        """Up to ``limit`` objects that ``where`` holds, after ``after``, in (bucket, key) order.

        Keyset pagination: the next page starts after this one's last (bucket, key), so a
        page costs the same anywhere in the listing, and rows written meanwhile neither
        repeat nor shift a later page.

        With ``scan``, a filter on columns outside the (bucket, key) index
        (``ObjectFilter.unindexed``) reads at most ``scan`` rows of the index after ``after``
        and keeps those the filter holds: the page may be short, even empty, with a next
        position all the same (where the window ended), and no request reads more.
        """
        if limit < 1:
            raise ValueError("limit must be positive")
        if scan is not None and where.unindexed:
            return self._bounded_page(where, after, limit, scan)
        query = _listing(where, after)
        if query is None:
            return ObjectPage((), None)
        # One more than asked for says whether another page follows.
        with self._connection() as connection:
            rows = connection.execute(query.limit(limit + 1)).all()
        records = [_object(row) for row in rows[:limit]]
        more = len(rows) > limit
        last = records[-1] if more else None
        return ObjectPage(records, None if last is None else (last.bucket, last.object_key))

    def _bounded_page(
        self, where: ObjectFilter, after: Position | None, limit: int, scan: int
    ) -> ObjectPage:
        if scan < 1:
            raise ValueError("scan must be positive")
        window = _range(sa.select(ObjectMetadata.id), where, after)
        if window is None:
            return ObjectPage((), None, 0)
        window = window.order_by(ObjectMetadata.bucket, ObjectMetadata.object_key)
        inside = window.limit(scan).subquery()
        # The window's last row, if it is full: the listing goes on from there.
        edge = sa.select(ObjectMetadata.bucket, ObjectMetadata.object_key).where(
            ObjectMetadata.id == window.offset(scan - 1).limit(1).scalar_subquery()
        )
        query = (
            _OBJECTS.join(inside, inside.c.id == ObjectMetadata.id)
            .where(*_conditions(where))
            .order_by(ObjectMetadata.bucket, ObjectMetadata.object_key)
            .limit(limit + 1)
        )
        with self._connection() as connection:
            rows = connection.execute(query).all()
            end = connection.execute(edge).one_or_none()
        records = [_object(row) for row in rows[:limit]]
        if len(rows) > limit:
            last: Position | None = (records[-1].bucket, records[-1].object_key)
        else:
            last = None if end is None else (end.bucket, end.object_key)
        return ObjectPage(records, last, scan if end is not None else None)

    def iter_objects(
        self, where: ObjectFilter, *, after: Position | None = None, page_size: int = PAGE_SIZE
    ) -> Generator[ObjectRecord]:
        """Every object ``where`` holds after ``after``, in (bucket, key) order, a page a query."""
        while True:
            page = self.page(where, after=after, limit=page_size)
            yield from page.records
            if page.next_after is None:
                return
            after = page.next_after

    def history(self, bucket: str, key: str) -> list[JournalRecord]:
        """The journal of changes applied to the object, oldest first."""
        return self._of_key(JournalEntry, JournalRecord, bucket, key)

    def versions(self, bucket: str, key: str) -> list[VersionRecord]:
        """Every version of the key that stands (removed ones left out), newest first."""
        table = ObjectVersion.__table__
        query = sa.select(*(table.c[name] for name in version_fields())).where(
            table.c.bucket == bucket,
            table.c.object_key == key,
            table.c.is_deleted.is_(False),
        )
        with self._connection() as connection:
            rows = connection.execute(query).all()
        return in_order(VersionRecord(**_read_only(row._asdict())) for row in rows)

    def iter_versions(
        self, bucket: str, prefix: str = "", *, after: str | None = None, page_size: int = PAGE_SIZE
    ) -> Generator[VersionRecord]:
        """Every version recorded of the keys under ``prefix`` after the key ``after``,
        removed ones included, in (key, version id) order, a page a query."""
        table = ObjectVersion.__table__
        base = sa.select(*(table.c[name] for name in version_fields())).where(
            table.c.bucket == bucket
        )
        if prefix:
            base = base.where(table.c.object_key.startswith(prefix, autoescape=True))
        position: tuple[str, str] | None = None
        while True:
            query = base
            if position is not None:
                key, version = position
                query = query.where(
                    sa.or_(
                        table.c.object_key > key,
                        sa.and_(table.c.object_key == key, table.c.version_id > version),
                    )
                )
            elif after is not None:
                query = query.where(table.c.object_key > after)
            query = query.order_by(table.c.object_key, table.c.version_id).limit(page_size)
            with self._connection() as connection:
                rows = connection.execute(query).all()
            for row in rows:
                yield VersionRecord(**_read_only(row._asdict()))
            if len(rows) < page_size:
                return
            position = (rows[-1].object_key, rows[-1].version_id)

    def attempts(self, bucket: str, key: str) -> list[AttemptRecord]:
        """Every recorded run for the object, oldest first."""
        return self._of_key(TaskAttempt, AttemptRecord, bucket, key)

    def rows_per_bucket(self, bucket: str | None = None) -> list[BucketRows]:
        """Live and deleted rows of every bucket (or of ``bucket``), by bucket name."""
        never_seen = sa.func.sum(sa.case((ObjectMetadata.never_seen.is_(True), 1), else_=0))
        deleted = sa.func.sum(
            sa.case(
                (
                    sa.and_(
                        ObjectMetadata.is_deleted.is_(True), ObjectMetadata.never_seen.is_(False)
                    ),
                    1,
                ),
                else_=0,
            )
        )
        query = (
            sa.select(
                ObjectMetadata.bucket,
                sa.func.count().label("total"),
                deleted.label("deleted"),
                never_seen.label("never_seen"),
            )
            .group_by(ObjectMetadata.bucket)
            .order_by(ObjectMetadata.bucket)
        )
        if bucket is not None:
            query = query.where(ObjectMetadata.bucket == bucket)
        with self._connection() as connection:
            rows = connection.execute(query).all()
        # MySQL's SUM is a DECIMAL: make every count a plain int.
        return [
            BucketRows(
                row.bucket,
                int(row.total) - int(row.deleted or 0) - int(row.never_seen or 0),
                int(row.deleted or 0),
                int(row.never_seen or 0),
            )
            for row in rows
        ]

    def breakdown(self, column: str, bucket: str | None = None, *, top: int = 20) -> list[Share]:
        """Live objects and their bytes by ``column`` (``storage_class`` or ``content_type``),
        the ``top`` largest counts first."""
        grouped = getattr(ObjectMetadata, column)
        query = (
            sa.select(
                grouped.label("value"),
                sa.func.count().label("objects"),
                sa.func.sum(ObjectMetadata.size).label("bytes"),
            )
            .where(ObjectMetadata.is_deleted.is_(False), ObjectMetadata.never_seen.is_(False))
            .group_by(grouped)
            .order_by(sa.func.count().desc(), grouped)
            .limit(top)
        )
        if bucket is not None:
            query = query.where(ObjectMetadata.bucket == bucket)
        with self._connection() as connection:
            rows = connection.execute(query).all()
        return [Share(row.value, int(row.objects), int(row.bytes or 0)) for row in rows]

    def attempt_counts(
        self, windows: Mapping[str, datetime], bucket: str | None = None
    ) -> dict[str, dict[str, int]]:
        """Attempts per outcome finished at or after each window's start.

        ``{window: {outcome: n}}``: every outcome appears in every window, zero included.
        One query, which reads the (outcome, finished_at) index from the earliest start on.
        """
        counts: dict[str, dict[str, int]] = {
            name: dict.fromkeys((str(outcome) for outcome in Outcome), 0) for name in windows
        }
        if not windows:
            return counts
        names = list(windows)
        columns = [
            sa.func.sum(sa.case((TaskAttempt.finished_at >= windows[name], 1), else_=0)).label(
                f"w{index}"
            )
            for index, name in enumerate(names)
        ]
        query = (
            sa.select(TaskAttempt.outcome, *columns)
            # Naming the outcomes lets MySQL range-scan the index once per outcome.
            .where(TaskAttempt.outcome.in_([str(outcome) for outcome in Outcome]))
            .where(TaskAttempt.finished_at >= min(windows.values()))
            .group_by(TaskAttempt.outcome)
        )
        if bucket is not None:
            query = query.where(TaskAttempt.bucket == bucket)
        with self._connection() as connection:
            for row in connection.execute(query):
                for index, name in enumerate(names):
                    counts[name][row.outcome] = int(row[index + 1] or 0)
        return counts

    def iter_failed_keys(
        self,
        *,
        since: datetime | None = None,
        bucket: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Generator[FailedKey]:
        """Keys whose last attempt (highest ``task_attempts.id``) failed, in (bucket, key) order.

        ``since`` keeps those whose failure finished at or after it. A key that failed and
        was then processed again (succeeded, gone, skipped or retrying) is not one of them.
        Streamed by keyset pagination, as listings are: keys recorded meanwhile after the
        current position are still found, none is yielded twice.
        """
        if page_size < 1:
            raise ValueError("page_size must be positive")
        after: Position | None = None
        while True:
            query = _failed_page(since=since, bucket=bucket, after=after, page_size=page_size)
            with self._connection() as connection:
                page = connection.execute(query).all()
            for row in page:
                yield FailedKey(
                    bucket=row.bucket,
                    key=row.object_key,
                    attempt_id=int(row.id),
                    finished_at=row.finished_at,
                    error_type=row.error_type,
                    error=row.error,
                )
            if len(page) < page_size:
                return
            after = (page[-1].bucket, page[-1].object_key)

    def _of_key(
        self, model: type[JournalEntry | TaskAttempt], record: type[_Record], bucket: str, key: str
    ) -> list[_Record]:
        """The rows of ``model`` for one key as ``record``s, in the order they were written."""
        query = (
            sa.select(*_columns(model, record))
            .where(model.bucket == bucket, model.object_key == key)
            .order_by(model.id)
        )
        with self._connection() as connection:
            return [record(**row._asdict()) for row in connection.execute(query)]

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """A connection for reads; database errors come out as s3meta's."""
        with translated_errors(), self._engine.connect() as connection:
            yield connection


@contextmanager
def open_reader(url: str) -> Iterator[ObjectReader]:
    """A reader on the existing database at ``url``, its engine disposed of on exit."""
    with open_engine(url) as engine:
        yield ObjectReader(engine)


def _columns(model: type[Any], record: type[Any]) -> list[InstrumentedAttribute[Any]]:
    """The model's columns that ``record`` has a field for, in the record's order."""
    return [getattr(model, field.name) for field in fields(record)]


_OBJECTS = sa.select(*_columns(ObjectMetadata, ObjectRecord))


def _object(row: sa.Row[Any]) -> ObjectRecord:
    return ObjectRecord(**_read_only(row._asdict()))


def _read_only(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with their JSON columns read-only: a record is read-only all through."""
    for name in MAPPING_FIELDS:
        if values[name] is not None:
            values[name] = MappingProxyType(dict(values[name]))
    return values


def _listing(where: ObjectFilter, after: Position | None) -> sa.Select[Any] | None:
    """The objects ``where`` holds after ``after``, ordered; None if none can follow ``after``."""
    query = _range(_OBJECTS, where, after)
    if query is None:
        return None
    return query.where(*_conditions(where)).order_by(
        ObjectMetadata.bucket, ObjectMetadata.object_key
    )


def _range(
    query: sa.Select[Any], where: ObjectFilter, after: Position | None
) -> sa.Select[Any] | None:
    """``query`` kept to ``where``'s range of the (bucket, key) index after ``after``; None if
    nothing can follow ``after``."""
    if where.bucket is not None:
        query = query.where(ObjectMetadata.bucket == where.bucket)
    if where.prefix:
        query = query.where(ObjectMetadata.object_key.startswith(where.prefix, autoescape=True))
    if after is None:
        return query
    after_bucket, after_key = after
    if where.bucket is None:
        return query.where(_after(ObjectMetadata.bucket, ObjectMetadata.object_key, after))
    if after_bucket == where.bucket:
        return query.where(ObjectMetadata.object_key > after_key)
    # A position in another bucket: all of this one follows it, or none does.
    return query if after_bucket < where.bucket else None


def _conditions(where: ObjectFilter) -> list[sa.ColumnElement[bool]]:
    """``where``'s conditions outside the (bucket, key) range."""
    found: list[sa.ColumnElement[bool]] = []
    if not where.include_deleted:
        found.append(ObjectMetadata.is_deleted.is_(False))
    if where.only_deleted:
        found.append(ObjectMetadata.is_deleted.is_(True))
    if not where.include_never_seen:
        found.append(ObjectMetadata.never_seen.is_(False))
    if where.content_type is not None:
        found.append(ObjectMetadata.content_type == where.content_type)
    if where.storage_class is not None:
        found.append(ObjectMetadata.storage_class == where.storage_class)
    if where.replication_status is not None:
        found.append(ObjectMetadata.replication_status == where.replication_status)
    if where.checksum_type is not None:
        found.append(ObjectMetadata.checksum_type == where.checksum_type)
    if where.content_encoding is not None:
        found.append(ObjectMetadata.content_encoding == where.content_encoding)
    if where.min_size is not None:
        found.append(ObjectMetadata.size >= where.min_size)
    if where.max_size is not None:
        found.append(ObjectMetadata.size <= where.max_size)
    if where.modified_after is not None:
        found.append(ObjectMetadata.last_modified >= where.modified_after)
    if where.modified_before is not None:
        found.append(ObjectMetadata.last_modified < where.modified_before)
    for name, value in where.tags:
        found.append(ObjectMetadata.tags[name].as_string() == value)
    for name, value in where.metadata:
        found.append(ObjectMetadata.user_metadata[name].as_string() == value)
    return found


def _after(
    bucket: InstrumentedAttribute[str], key: InstrumentedAttribute[str], after: Position
) -> sa.ColumnElement[bool]:
    """(bucket, key) past ``after``, spelled out rather than as a row comparison, which
    MySQL may not serve from the index."""
    after_bucket, after_key = after
    return sa.or_(bucket > after_bucket, sa.and_(bucket == after_bucket, key > after_key))


def _failed_page(
    *,
    since: datetime | None,
    bucket: str | None,
    after: Position | None,
    page_size: int,
) -> sa.Select[tuple[str, str, int, datetime, str | None, str | None]]:
    later = aliased(TaskAttempt)
    # No later attempt for the same key: this failed attempt is the key's last. The
    # (bucket, object_key) index holds the id too, so this is one index probe per row.
    is_last = ~sa.exists().where(
        later.bucket == TaskAttempt.bucket,
        later.object_key == TaskAttempt.object_key,
        later.id > TaskAttempt.id,
    )
    query = (
        sa.select(
            TaskAttempt.bucket,
            TaskAttempt.object_key,
            TaskAttempt.id,
            TaskAttempt.finished_at,
            TaskAttempt.error_type,
            sa.func.substr(TaskAttempt.error, 1, _ERROR_EXCERPT).label("error"),
        )
        .where(TaskAttempt.outcome == str(Outcome.FAILED), is_last)
        .order_by(TaskAttempt.bucket, TaskAttempt.object_key)
        .limit(page_size)
    )
    if bucket is not None:
        query = query.where(TaskAttempt.bucket == bucket)
    if since is not None:
        query = query.where(TaskAttempt.finished_at >= since)
    if after is not None:
        query = query.where(_after(TaskAttempt.bucket, TaskAttempt.object_key, after))
    return query
