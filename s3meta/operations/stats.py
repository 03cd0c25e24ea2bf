"""What ``s3meta stats`` reports: rows per bucket, recent attempts, queue depths and ages.

A queue's oldest message is estimated from a peek (SQS itself has no such attribute).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from s3meta.aws.sqs import QueueDepth, QueueMessage
from s3meta.domain.records import BucketRows
from s3meta.errors import QueueNotFound, S3MetaError

if TYPE_CHECKING:
    from db.reader import ObjectReader

# Attempts are counted over each of these spans back from now.
WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}
# A long poll of 1 s asks every SQS server, so an empty answer means empty.
PEEK_WAIT_SECONDS = 1


class PeekableQueue(Protocol):
    """A queue as stats reads it (``s3meta.aws.sqs.Queue``)."""

    name: str

    def depth(self) -> QueueDepth: ...

    def peek(self, *, wait_seconds: int) -> list[QueueMessage]: ...


@dataclass(frozen=True, slots=True)
class QueueReport:
    """One queue's depth and the age of the oldest message seen in a sample."""

    role: str
    name: str
    depth: QueueDepth | None  # None: the queue does not exist
    oldest_sent_at: datetime | None = None
    sampled: int = 0  # messages peeked at to find the oldest

    def oldest_age(self, now: datetime) -> float | None:
        """Seconds since the oldest sampled message was sent; None when none was."""
        if self.oldest_sent_at is None:
            return None
        # SQS's clock and ours may disagree a little; an age is never negative.
        return max(0.0, (now - self.oldest_sent_at).total_seconds())


@dataclass(frozen=True, slots=True)
class Stats:
    """Everything ``s3meta stats`` shows, as of ``generated_at``."""

    generated_at: datetime
    bucket: str | None  # rows and attempts of this bucket only; the queues are shared
    buckets: Sequence[BucketRows]
    attempts: dict[str, dict[str, int]]  # {window: {outcome: count}}, every outcome
    queues: Sequence[QueueReport]
    # Why no queue could be read (no credentials, no endpoint): the counts stand without them.
    queues_unavailable: str | None = None

    @property
    def nothing_recorded(self) -> bool:
        """No row, and no attempt finished in the last day."""
        return not self.buckets and not any(self.attempts["last_day"].values())


def collect_stats(
    reader: ObjectReader,
    queues: Sequence[tuple[str, PeekableQueue]],
    *,
    bucket: str | None,
    peek: bool,
    now: datetime,
) -> Stats:
    """The database's counts (of ``bucket`` only, if given), then each ``(role, queue)``'s;
    if the queues cannot be read, the counts and why not."""
    buckets = reader.rows_per_bucket(bucket)
    windows = {name: now - span for name, span in WINDOWS.items()}
    attempts = reader.attempt_counts(windows, bucket)
    reports: list[QueueReport] = []
    unavailable = None
    try:
        reports.extend(queue_report(role, queue, peek=peek) for role, queue in queues)
    except S3MetaError as exc:
        # The queues share one client and endpoint: what stops one stops them all.
        reports, unavailable = [], str(exc)
    return Stats(
        generated_at=now,
        bucket=bucket,
        buckets=buckets,
        attempts=attempts,
        queues=reports,
        queues_unavailable=unavailable,
    )


def queue_report(role: str, queue: PeekableQueue, *, peek: bool) -> QueueReport:
    """``queue``'s depth and, with ``peek`` and visible messages, its oldest message's age."""
    try:
        depth = queue.depth()
    except QueueNotFound:
        return QueueReport(role, queue.name, None)
    if not peek or depth.visible == 0:
        return QueueReport(role, queue.name, depth)
    oldest_sent_at, sampled = oldest(queue.peek(wait_seconds=PEEK_WAIT_SECONDS))
    return QueueReport(role, queue.name, depth, oldest_sent_at, sampled)


def oldest(messages: Sequence[QueueMessage]) -> tuple[datetime | None, int]:
    """The earliest ``sent_at`` among ``messages``, and how many had one."""
    sent = [message.sent_at for message in messages if message.sent_at is not None]
    return (min(sent) if sent else None), len(sent)
