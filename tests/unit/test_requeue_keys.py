"""``s3meta.operations.requeue``: which keys are published, and what a failure says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.records import FailedKey
from s3meta.errors import InvalidTaskArguments, PermanentError, PublishError, QueueUnavailable
from s3meta.operations.requeue import SKIPPED_EXAMPLES, requeue_failed, requeue_uris

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
    return MetadataStore(engine)


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


REFUSED = (
    "extract_metadata: bucket must be a string, got int 123; "
    "key must be a string, got NoneType None"
)


def refused(store: MetadataStore, bucket: str, key: str, error: str = REFUSED) -> None:
    """The failed attempt a refused call records (``tasks.extract._refuse``)."""
    store.record_attempt(
        Attempt(
            f"refused-{bucket}/{key}",
            bucket,
            key,
            1,
            Outcome.FAILED,
            NOW,
            NOW,
            error_type=InvalidTaskArguments.__name__,
            error=error,
        )
    )


@pytest.fixture
def unusable_failures(store: MetadataStore) -> None:
    refused(store, "123", "None")
    fail(store, "Bad_Bucket!!", "k")
    fail(store, "bucket-a", "k1")
    refused(store, "bucket-a", "k2", "extract_metadata: unreadable event fields {'size': 'x'}")
    fail(store, "bucket-a", "k3")
    fail(store, "bucket-b", "k4")


@pytest.mark.usefixtures("unusable_failures")
@pytest.mark.parametrize("dry_run", [False, True])
def test_unusable_attempts_are_skipped_and_counted_and_the_rest_published(
    reader: ObjectReader, dry_run: bool
) -> None:
    publisher = Publisher()
    seen: list[str] = []

    report = requeue_failed(
        reader, publisher, dry_run=dry_run, on_key=lambda failed_key, _: seen.append(failed_key.uri)
    )

    usable = [("bucket-a", "k1"), ("bucket-a", "k3"), ("bucket-b", "k4")]
    assert publisher.published == ([] if dry_run else usable)
    assert seen == [f"s3://{bucket}/{key}" for bucket, key in usable]
    assert (report.matched, report.skipped) == (3, 3)
    assert [(unusable.key.uri, unusable.why) for unusable in report.skipped_examples] == [
        ("s3://123/None", f"refused call: {REFUSED}"),
        (
            "s3://Bad_Bucket!!/k",
            "invalid bucket name 'Bad_Bucket!!': a bucket name is 3-63 lowercase letters, "
            "digits, '.' or '-', and starts and ends with a letter or digit",
        ),
        (
            "s3://bucket-a/k2",
            "refused call: extract_metadata: unreadable event fields {'size': 'x'}",
        ),
    ]


@pytest.mark.usefixtures("unusable_failures")
def test_skipped_attempts_do_not_count_toward_the_limit(reader: ObjectReader) -> None:
    publisher = Publisher()

    report = requeue_failed(reader, publisher, limit=2)

    assert publisher.published == [("bucket-a", "k1"), ("bucket-a", "k3")]
    assert (report.matched, report.skipped) == (2, 3)


def test_only_the_first_few_skipped_attempts_are_named(
    reader: ObjectReader, store: MetadataStore
) -> None:
    for n in range(SKIPPED_EXAMPLES + 4):
        refused(store, f"{n}", "None")

    report = requeue_failed(reader, Publisher())

    assert (report.matched, report.skipped) == (0, SKIPPED_EXAMPLES + 4)
    assert len(report.skipped_examples) == SKIPPED_EXAMPLES


def test_a_task_the_publisher_refuses_as_unusable_is_skipped_not_fatal(
    reader: ObjectReader, store: MetadataStore
) -> None:
    class Refusing(Publisher):
        def requeue(self, bucket: str, key: str) -> str:
            if key == "refused":
                raise InvalidTaskArguments("extract_metadata: key is refused")
            return super().requeue(bucket, key)

    for key in ("a", "refused", "z"):
        fail(store, "bucket-a", key)
    publisher = Refusing()

    report = requeue_failed(reader, publisher)

    assert publisher.published == [("bucket-a", "a"), ("bucket-a", "z")]
    assert (report.matched, report.skipped) == (2, 1)
    assert report.skipped_examples[0].why == "extract_metadata: key is refused"
