"""``s3meta.operations.requeue``: which keys are published, and what a failure says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db.engine import session_factory
from db.reader import ObjectReader
from db.store import Attempt, MetadataStore
from s3meta.domain.attempts import Outcome
from s3meta.errors import PermanentError, PublishError, QueueUnavailable
from s3meta.operations.requeue import requeue_failed, requeue_uris
from s3meta.records import FailedKey

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Publisher:
    """Records what it publishes; refuses from the ``refuse_from``-th key on (0-based)."""

    def __init__(self, refuse_from: int | None = None, error: type[Exception] = PublishError):
        self.published: list[tuple[str, str]] = []
        self.refuse_from = refuse_from
        self.error = error

    def requeue(self, bucket: str, key: str) -> str:
        if self.refuse_from is not None and len(self.published) >= self.refuse_from:
            raise self.error(f"could not publish the task for s3://{bucket}/{key}: refused")
        self.published.append((bucket, key))
        return f"task-{len(self.published)}"


class Buckets:
    """A bucket check that knows only ``existing``, and records what it was asked."""

    def __init__(self, *existing: str) -> None:
        self.existing = set(existing)
        self.checked: list[str] = []

    def __call__(self, bucket: str) -> None:
        self.checked.append(bucket)
        if bucket not in self.existing:
            raise PermanentError(f"s3://{bucket}: no such bucket")


URIS = [("bucket-b", "one"), ("bucket-a", "two"), ("bucket-b", "three")]


def test_explicit_keys_are_published_in_the_order_given() -> None:
    publisher = Publisher()

    report = requeue_uris(URIS, publisher, Buckets("bucket-a", "bucket-b"), dry_run=False)

    assert publisher.published == URIS
    assert list(report.task_ids) == ["task-1", "task-2", "task-3"]
    assert list(report.uris) == URIS


def test_every_bucket_is_checked_once_before_any_key_is_published() -> None:
    publisher, buckets = Publisher(), Buckets("bucket-a")

    with pytest.raises(PermanentError, match="s3://bucket-b: no such bucket"):
        requeue_uris(URIS, publisher, buckets, dry_run=False)

    assert buckets.checked == ["bucket-a", "bucket-b"]
    assert publisher.published == []


def test_a_dry_run_checks_the_buckets_and_publishes_nothing() -> None:
    publisher, buckets = Publisher(), Buckets("bucket-a", "bucket-b")

    report = requeue_uris(URIS, publisher, buckets, dry_run=True)

    assert buckets.checked == ["bucket-a", "bucket-b"]
    assert publisher.published == []
    assert (list(report.task_ids), report.dry_run) == ([], True)


def test_a_publish_failure_after_some_keys_says_how_many_were_queued() -> None:
    buckets = Buckets("bucket-a", "bucket-b")

    with pytest.raises(PublishError) as raised:
        requeue_uris(URIS, Publisher(refuse_from=2), buckets, dry_run=False)

    assert str(raised.value) == (
        "could not publish the task for s3://bucket-b/three: refused (after queueing 2 tasks)"
    )


def test_a_publish_failure_on_the_first_key_is_raised_as_it_is() -> None:
    buckets = Buckets("bucket-a", "bucket-b")

    with pytest.raises(PublishError) as raised:
        requeue_uris(URIS, Publisher(refuse_from=0), buckets, dry_run=False)

    assert str(raised.value) == "could not publish the task for s3://bucket-b/one: refused"


@pytest.fixture
def store(engine: sa.Engine) -> MetadataStore:
    return MetadataStore(session_factory(engine))


def fail(store: MetadataStore, bucket: str, key: str, finished_at: datetime = NOW) -> None:
    store.record_attempt(
        Attempt(f"{bucket}/{key}", bucket, key, 1, Outcome.FAILED, finished_at, finished_at)
    )


@pytest.fixture
def failures(store: MetadataStore) -> None:
    fail(store, "bucket-a", "old", NOW - timedelta(days=2))
    for key in ("k1", "k2", "k3"):
        fail(store, "bucket-a", key)
    fail(store, "bucket-b", "other")


@pytest.mark.usefixtures("failures")
def test_failed_keys_are_published_in_key_order_up_to_the_limit(reader: ObjectReader) -> None:
    publisher = Publisher()
    seen: list[tuple[str, int]] = []

    report = requeue_failed(
        reader,
        publisher,
        bucket="bucket-a",
        limit=3,
        on_key=lambda failed_key, count: seen.append((failed_key.uri, count)),
    )

    assert publisher.published == [("bucket-a", "k1"), ("bucket-a", "k2"), ("bucket-a", "k3")]
    assert seen == [("s3://bucket-a/k1", 1), ("s3://bucket-a/k2", 2), ("s3://bucket-a/k3", 3)]
    assert (report.matched, report.queued, report.bucket) == (3, 3, "bucket-a")


@pytest.mark.usefixtures("failures")
def test_since_leaves_out_keys_that_failed_before_it(reader: ObjectReader) -> None:
    publisher = Publisher()

    report = requeue_failed(reader, publisher, since=NOW - timedelta(hours=1))

    assert ("bucket-a", "old") not in publisher.published
    assert report.matched == 4


@pytest.mark.usefixtures("failures")
def test_a_dry_run_of_failed_keys_reports_each_key_and_publishes_nothing(
    reader: ObjectReader,
) -> None:
    publisher = Publisher()
    seen: list[FailedKey] = []

    report = requeue_failed(
        reader, publisher, dry_run=True, on_key=lambda failed_key, _count: seen.append(failed_key)
    )

    assert publisher.published == []
    assert len(seen) == report.matched == 5
    assert report.queued == 0


@pytest.mark.usefixtures("failures")
@pytest.mark.parametrize("error", [PublishError, QueueUnavailable])
def test_an_error_midway_keeps_its_type_and_says_how_far_it_got(
    reader: ObjectReader, error: type[Exception]
) -> None:
    with pytest.raises(error) as raised:
        requeue_failed(reader, Publisher(refuse_from=2, error=error), bucket="bucket-a")

    assert str(raised.value) == (
        "could not publish the task for s3://bucket-a/k3: refused (after queueing 2 tasks, "
        "the last for s3://bucket-a/k2; running the command again is safe)"
    )


@pytest.mark.usefixtures("failures")
def test_an_error_on_the_first_failed_key_is_raised_as_it_is(reader: ObjectReader) -> None:
    with pytest.raises(PublishError) as raised:
        requeue_failed(reader, Publisher(refuse_from=0), bucket="bucket-b")

    assert str(raised.value) == "could not publish the task for s3://bucket-b/other: refused"
