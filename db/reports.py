"""Read-only queries for operators: what ``s3meta stats`` and ``s3meta requeue --failed`` ask.

Kept apart from ``db.store`` (the task's reads and writes). Database errors come out as
s3meta's, exactly as the store's do (``translate_database_error``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import aliased

from db.models import ObjectMetadata, TaskAttempt
from db.store import translate_database_error
from s3meta.domain.attempts import Outcome

# Keys per query when streaming failed keys: one short query per page, no cursor held open
# while the caller publishes.
FAILED_PAGE_SIZE = 500
# Enough of the error to recognise it in a listing; the full text is in task_attempts.
_ERROR_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class BucketRows:
    """How many rows a bucket has in ``object_metadata``."""

    bucket: str
    live: int
    deleted: int
    never_seen: int = 0  # keys HeadObject never found: not objects, so in neither count

    @property
    def total(self) -> int:
        return self.live + self.deleted


@dataclass(frozen=True, slots=True)
class FailedKey:
    """A key whose last recorded attempt failed."""

    bucket: str
    key: str
    attempt_id: int
    finished_at: datetime
    error_type: str | None
    error: str | None  # the first characters only

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def rows_per_bucket(engine: sa.Engine, bucket: str | None = None) -> list[BucketRows]:
    """Live and deleted rows of every bucket (or of ``bucket``), by bucket name."""
    never_seen = sa.func.sum(sa.case((ObjectMetadata.never_seen.is_(True), 1), else_=0))
    deleted = sa.func.sum(
        sa.case(
            (sa.and_(ObjectMetadata.is_deleted.is_(True), ObjectMetadata.never_seen.is_(False)), 1),
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
    with _connection(engine) as connection:
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


def attempt_counts(
    engine: sa.Engine, windows: Mapping[str, datetime], bucket: str | None = None
) -> dict[str, dict[str, int]]:
    """Attempts per outcome finished at or after each window's start: ``{window: {outcome: n}}``.

    Every outcome appears in every window, zero included. One query, which reads the
    (outcome, finished_at) index from the earliest start on.
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
    with _connection(engine) as connection:
        for row in connection.execute(query):
            for index, name in enumerate(names):
                counts[name][row.outcome] = int(row[index + 1] or 0)
    return counts


def iter_failed_keys(
    engine: sa.Engine,
    *,
    since: datetime | None = None,
    bucket: str | None = None,
    page_size: int = FAILED_PAGE_SIZE,
) -> Generator[FailedKey]:
    """Keys whose last attempt (highest ``task_attempts.id``) failed, in (bucket, key) order.

    ``since`` keeps those whose failure finished at or after it. A key that failed and was
    then processed again (succeeded, gone, skipped or retrying) is not one of them.
    Streamed by keyset pagination: each page is its own short query, so memory stays flat
    and no connection is held while the caller works; keys recorded meanwhile after the
    current position are still found, none is yielded twice.
    """
    if page_size < 1:
        raise ValueError("page_size must be positive")
    after: tuple[str, str] | None = None
    while True:
        query = _failed_page(since=since, bucket=bucket, after=after, page_size=page_size)
        with _connection(engine) as connection:
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


def _failed_page(
    *,
    since: datetime | None,
    bucket: str | None,
    after: tuple[str, str] | None,
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
        # Spelled out rather than a row comparison, which MySQL may not serve from the index.
        after_bucket, after_key = after
        query = query.where(
            sa.or_(
                TaskAttempt.bucket > after_bucket,
                sa.and_(TaskAttempt.bucket == after_bucket, TaskAttempt.object_key > after_key),
            )
        )
    return query


@contextmanager
def _connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection for reads; database errors come out as s3meta's."""
    try:
        with engine.connect() as connection:
            yield connection
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        raise translate_database_error(exc) from exc
