"""``s3meta.operations.backfill``: a run over moto's S3 in process, tasks and rows in memory
or on SQLite, progress recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from db.models import ObjectMetadata
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.aws.sqs import QueueDepth
from s3meta.domain.objects import EventInfo, ObjectState, parse_timestamp, strip_etag
from s3meta.errors import PublishError
from s3meta.operations.backfill import Backfill, BackfillJob, Counts, wait_for_room
from tests.support.writes import mark_deleted, save_state
from tests.unit.conftest import BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

JOB = BackfillJob(
    bucket=BUCKET,
    prefix="",
    start_after=None,
    only_missing=False,
    batch_size=10,
    max_queue_depth=0,
    count_first=False,
)


class Batches:
    """Tasks published in a list; refuses the ``refuse_at``-th key (counting from 0)."""

    def __init__(self, refuse_at: int | None = None) -> None:
        self.keys: list[str] = []
        self._refuse_at = refuse_at

    @property
    def published(self) -> int:
        return len(self.keys)

    @property
    def last_published(self) -> str | None:
        return self.keys[-1] if self.keys else None

    def add(self, bucket: str, key: str, *, tag: str | None = None, **task_kwargs: Any) -> None:
        if len(self.keys) == self._refuse_at:
            raise PublishError(f"could not publish the task for s3://{bucket}/{key}: refused")
        self.keys.append(key)

    def flush(self) -> None:
        pass


class Depths:
    """A task queue whose depth reads as given, one reading per call, then 0."""

    name = "tasks"

    def __init__(self, *waiting: int) -> None:
        self._waiting = list(waiting)

    def depth(self) -> QueueDepth:
        visible = self._waiting.pop(0) if self._waiting else 0
        return QueueDepth(visible=visible, in_flight=0, delayed=0)


class Recorded:
    """Progress as a list of what was shown."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    @contextmanager
    def counting(self) -> Iterator[Callable[[int], None]]:
        yield lambda counted: self.shown.append(f"counting {counted}")

    @contextmanager
    def listing(self, total: int | None) -> Iterator[Recorded]:
        self.shown.append(f"listing of {total}")
        yield self

    def __call__(self, counts: Counts, *, done: bool = False) -> None:
        if done:
            self.shown.append(f"done: {counts.listed} listed, {counts.published} published")

    def paused(self, why: str | None) -> None:
        self.shown.append(why or "resumed")


def upload(s3: S3Client, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())


def index(s3: S3Client, store: MetadataStore, key: str, *, etag: str | None = None) -> None:
    """Save the row a worker would write for ``key`` (with another ETag, if given)."""
    head = s3.head_object(Bucket=BUCKET, Key=key)
    state = ObjectState(
        bucket=BUCKET,
        key=key,
        size=head["ContentLength"],
        etag=etag or strip_etag(head["ETag"]),
        last_modified=parse_timestamp(head["LastModified"]),
    )
    save_state(store, state, EventInfo(), "t")


def test_every_listed_object_gets_a_task(s3: S3Client) -> None:
    upload(s3, "b", "a", "c/d")
    batches, progress = Batches(), Recorded()

    counts = Backfill(replace(JOB, count_first=True)).run(s3, batches, Depths(), progress)

    assert batches.keys == ["a", "b", "c/d"]
    assert (counts.listed, counts.published, counts.skipped, counts.total) == (3, 3, 0, 3)
    assert progress.shown[-2:] == ["listing of 3", "done: 3 listed, 3 published"]


def test_only_missing_skips_keys_whose_live_row_matches_after_the_start(
    s3: S3Client, store: MetadataStore, reader: ObjectReader
) -> None:
    upload(s3, "a", "b-same", "c-changed", "d-deleted", "e-new", "f-same")
    for key in ("a", "b-same", "d-deleted", "f-same"):
        index(s3, store, key)
    index(s3, store, "c-changed", etag="0" * 32)
    mark_deleted(store, BUCKET, "d-deleted", EventInfo(event_name="ObjectRemoved:Delete"))
    job = replace(JOB, only_missing=True, start_after="a")
    batches = Batches()

    counts = Backfill(job).run(s3, batches, Depths(), Recorded(), reader)

    assert batches.keys == ["c-changed", "d-deleted", "e-new"]
    assert (counts.listed, counts.skipped) == (5, 2)


def test_only_missing_queues_rows_written_before_they_kept_every_header(
    s3: S3Client, engine: sa.Engine, store: MetadataStore, reader: ObjectReader
) -> None:
    upload(s3, "new-row", "old-row")
    index(s3, store, "new-row")
    index(s3, store, "old-row")
    # What revision 0005 leaves on a row written before it: no headers recorded.
    with engine.begin() as connection:
        connection.execute(
            sa.update(ObjectMetadata)
            .where(ObjectMetadata.object_key == "old-row")
            .values(headers=None)
        )
    batches = Batches()

    counts = Backfill(replace(JOB, only_missing=True)).run(
        s3, batches, Depths(), Recorded(), reader
    )

    assert batches.keys == ["old-row"]
    assert (counts.listed, counts.skipped) == (2, 1)


def test_only_missing_without_the_rows_is_refused(s3: S3Client) -> None:
    with pytest.raises(ValueError, match="needs a reader"):
        Backfill(replace(JOB, only_missing=True)).run(s3, Batches(), Depths(), Recorded())


def test_a_stopped_run_says_after_which_key_to_resume(s3: S3Client) -> None:
    upload(s3, "a", "it's", "z")
    run = Backfill(JOB)

    with pytest.raises(PublishError):
        run.run(s3, Batches(refuse_at=2), Depths(), Recorded())

    assert run.stopped() == (
        f"stopped after s3://{BUCKET}/it's; resume with --start-after 'it'\"'\"'s' "
        "(listed 3, published 2, skipped 0)"
    )


def test_a_run_stopped_before_any_task_says_to_run_again(s3: S3Client) -> None:
    upload(s3, "a")
    run = Backfill(JOB)

    with pytest.raises(PublishError):
        run.run(s3, Batches(refuse_at=0), Depths(), Recorded())

    assert run.stopped() == (
        "stopped before publishing anything (listed 1, published 0, skipped 0); "
        "run the same command again"
    )


def test_a_deep_task_queue_pauses_with_the_reason_until_it_has_room() -> None:
    progress = Recorded()
    slept: list[float] = []

    wait_for_room(Depths(30, 12, 10), 10, progress.paused, sleep=slept.append)

    reason = "paused: task queue tasks holds {} > 10 (--max-queue-depth); waiting for the workers"
    assert progress.shown == [reason.format(30), reason.format(12), "resumed"]
    assert slept == [1, 1]


def test_a_queue_with_room_does_not_pause() -> None:
    progress = Recorded()

    wait_for_room(Depths(10), 10, progress.paused, sleep=lambda _seconds: None)

    assert progress.shown == []
