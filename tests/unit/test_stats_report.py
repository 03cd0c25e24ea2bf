"""``s3meta.operations.stats``: queue reports from queues in memory, counts from SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.aws.sqs import QueueDepth, QueueMessage
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.records import BucketRows
from s3meta.errors import PermanentError
from s3meta.memory import SENT, MemoryQueue
from s3meta.operations.stats import QueueReport, Stats, collect_stats, oldest, queue_report

NO_OUTCOMES = dict.fromkeys((str(outcome) for outcome in Outcome), 0)


class Unpeekable(MemoryQueue):
    def peek(self, *, wait_seconds: int) -> list[QueueMessage]:
        raise AssertionError("peeked")


def queue_with(*bodies: str, queue: MemoryQueue | None = None) -> MemoryQueue:
    queue = queue or MemoryQueue("events")
    for body in bodies:
        queue.send(body)
    return queue


def test_a_missing_queue_is_reported_without_a_depth() -> None:
    report = queue_report("dead-letter", MemoryQueue("dlq", missing=True), peek=True)

    assert report == QueueReport("dead-letter", "dlq", None)


def test_the_oldest_of_the_peeked_messages_gives_the_age() -> None:
    queue = queue_with("a", "b", "c")

    report = queue_report("events", queue, peek=True)

    assert report.depth is not None
    assert (report.depth.visible, report.sampled, report.oldest_sent_at) == (3, 3, SENT)
    assert report.oldest_age(SENT + timedelta(seconds=90)) == 90.0
    assert len(queue.visible) == 3  # peeking took nothing away


def test_without_peeking_or_visible_messages_the_queue_is_not_peeked_at() -> None:
    unpeeked = queue_report("events", queue_with("a", queue=Unpeekable("events")), peek=False)
    empty = queue_report("task", Unpeekable("task"), peek=True)

    assert (unpeeked.sampled, unpeeked.oldest_sent_at) == (0, None)
    assert (empty.sampled, empty.oldest_sent_at) == (0, None)


def test_the_oldest_message_is_the_earliest_sent_and_only_timed_ones_count() -> None:
    messages = [
        QueueMessage("b", "r", "", 1, sent_at=SENT + timedelta(seconds=5)),
        QueueMessage("untimed", "r", "", 1),
        QueueMessage("a", "r", "", 1, sent_at=SENT),
    ]

    assert oldest(messages) == (SENT, 2)
    assert oldest([]) == (None, 0)


def test_an_age_is_never_negative_when_clocks_disagree() -> None:
    report = QueueReport("events", "q", None, oldest_sent_at=SENT)

    assert report.oldest_age(SENT - timedelta(seconds=2)) == 0.0
    assert QueueReport("events", "q", None).oldest_age(SENT) is None


@pytest.mark.parametrize(
    ("buckets", "last_day", "nothing"),
    [
        ([], NO_OUTCOMES, True),
        ([BucketRows("b", 1, 0)], NO_OUTCOMES, False),
        ([], {**NO_OUTCOMES, "failed": 1}, False),
    ],
)
def test_nothing_is_recorded_without_rows_or_attempts_in_the_last_day(
    buckets: list[BucketRows], last_day: dict[str, int], nothing: bool
) -> None:
    stats = Stats(SENT, "b", buckets, {"last_hour": NO_OUTCOMES, "last_day": last_day}, [])

    assert stats.nothing_recorded is nothing


def test_stats_count_rows_and_attempts_of_the_bucket_and_report_each_queue(
    engine: sa.Engine,
) -> None:
    store = MetadataStore(engine)
    for key, finished_at in [
        ("recent", SENT - timedelta(minutes=5)),
        ("older", SENT - timedelta(hours=5)),
    ]:
        store.record_attempt(
            Attempt(key, "bucket-a", key, 1, Outcome.FAILED, finished_at, finished_at)
        )
    store.record_attempt(Attempt("x", "bucket-b", "x", 1, Outcome.FAILED, SENT, SENT))
    queues = [("events", queue_with("a")), ("dead-letter", MemoryQueue("dlq", missing=True))]

    stats = collect_stats(ObjectReader(engine), queues, bucket="bucket-a", peek=True, now=SENT)

    assert stats.attempts == {
        "last_hour": {**NO_OUTCOMES, "failed": 1},
        "last_day": {**NO_OUTCOMES, "failed": 2},
    }
    assert list(stats.buckets) == []
    assert [(queue.role, queue.sampled) for queue in stats.queues] == [
        ("events", 1),
        ("dead-letter", 0),
    ]
    assert (stats.generated_at, stats.bucket, stats.nothing_recorded) == (SENT, "bucket-a", False)


class Unreachable(MemoryQueue):
    def depth(self) -> QueueDepth:
        raise PermanentError("SQS GetQueueUrl: Unable to locate credentials")


def test_queues_that_cannot_be_read_leave_the_counts_and_say_why(engine: sa.Engine) -> None:
    store = MetadataStore(engine)
    store.record_attempt(Attempt("t", "bucket-a", "k", 1, Outcome.GONE, SENT, SENT))
    queues = [("events", Unreachable("events")), ("task", Unreachable("tasks"))]

    stats = collect_stats(ObjectReader(engine), queues, bucket=None, peek=True, now=SENT)

    assert stats.attempts["last_hour"] == {**NO_OUTCOMES, "gone": 1}
    assert stats.queues == []
    assert stats.queues_unavailable == "SQS GetQueueUrl: Unable to locate credentials"
