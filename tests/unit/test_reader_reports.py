"""The operators' counts and failed keys (``db.reader``) on SQLite; MySQL runs them in the
stack's tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.engine import create_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.errors import SchemaNotMigrated
from tests.support.writes import mark_deleted, save_state

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def attempt(
    store: MetadataStore,
    bucket: str,
    key: str,
    outcome: Outcome,
    finished_at: datetime = NOW,
) -> None:
    store.record_attempt(
        Attempt(
            task_id=f"{bucket}/{key}",
            bucket=bucket,
            key=key,
            attempt=1,
            outcome=outcome,
            started_at=finished_at,
            finished_at=finished_at,
            error_type="PermanentError" if outcome == Outcome.FAILED else None,
            error="x" * 5000 if outcome == Outcome.FAILED else None,
        )
    )


def failed(
    reader: ObjectReader,
    *,
    since: datetime | None = None,
    bucket: str | None = None,
    page_size: int = 500,
) -> list[tuple[str, str]]:
    found = reader.iter_failed_keys(since=since, bucket=bucket, page_size=page_size)
    return [(key.bucket, key.key) for key in found]


def test_only_keys_whose_last_attempt_failed_are_listed_in_key_order(
    reader: ObjectReader, store: MetadataStore
) -> None:
    attempt(store, "bucket-b", "z", Outcome.FAILED)
    attempt(store, "bucket-a", "healed", Outcome.FAILED)
    attempt(store, "bucket-a", "healed", Outcome.SUCCEEDED)
    attempt(store, "bucket-a", "retried", Outcome.FAILED)
    attempt(store, "bucket-a", "retried", Outcome.RETRYING)
    attempt(store, "bucket-a", "relapsed", Outcome.SUCCEEDED)
    attempt(store, "bucket-a", "relapsed", Outcome.FAILED)
    attempt(store, "bucket-a", "twice", Outcome.FAILED)
    attempt(store, "bucket-a", "twice", Outcome.FAILED)
    attempt(store, "bucket-a", "gone", Outcome.GONE)

    assert failed(reader) == [
        ("bucket-a", "relapsed"),
        ("bucket-a", "twice"),
        ("bucket-b", "z"),
    ]
    assert failed(reader, bucket="bucket-b") == [("bucket-b", "z")]
    first = next(reader.iter_failed_keys())
    assert first.error_type == "PermanentError"
    assert first.error == "x" * 200  # an excerpt
    assert first.finished_at == NOW


@pytest.mark.parametrize("page_size", [1, 2, 3, 500])
def test_pages_neither_skip_nor_repeat_keys(
    reader: ObjectReader, store: MetadataStore, page_size: int
) -> None:
    keys = [("bucket-a", key) for key in ("a", "a b", "a/b", "B", "ä", "日本")]
    keys += [("bucket-b", "a"), ("bucket-c", "a")]
    for bucket, key in reversed(keys):
        attempt(store, bucket, key, Outcome.FAILED)
    expected = sorted(keys, key=lambda pair: (pair[0], pair[1].encode()))

    assert failed(reader, page_size=page_size) == expected


def test_since_compares_with_the_last_failure(reader: ObjectReader, store: MetadataStore) -> None:
    attempt(store, "bucket-a", "old", Outcome.FAILED, NOW - timedelta(days=2))
    attempt(store, "bucket-a", "new", Outcome.FAILED, NOW - timedelta(minutes=5))
    attempt(store, "bucket-a", "again", Outcome.FAILED, NOW - timedelta(days=2))
    attempt(store, "bucket-a", "again", Outcome.FAILED, NOW - timedelta(minutes=1))

    assert failed(reader, since=NOW - timedelta(hours=1)) == [
        ("bucket-a", "again"),
        ("bucket-a", "new"),
    ]


def test_rows_per_bucket(reader: ObjectReader, store: MetadataStore) -> None:
    for bucket, key in [("bucket-b", "1"), ("bucket-a", "1"), ("bucket-a", "2")]:
        state = ObjectState(bucket=bucket, key=key, size=1, etag="e", last_modified=NOW)
        save_state(store, state, EventInfo())
    mark_deleted(store, "bucket-a", "2", EventInfo())
    mark_deleted(store, "bucket-a", "3", EventInfo())

    rows = reader.rows_per_bucket()

    # bucket-a/3 was never seen in S3: no object, in neither count.
    assert [(row.bucket, row.live, row.deleted, row.total, row.never_seen) for row in rows] == [
        ("bucket-a", 1, 1, 2, 1),
        ("bucket-b", 1, 0, 1, 0),
    ]
    assert [row.bucket for row in reader.rows_per_bucket("bucket-b")] == ["bucket-b"]
    assert reader.rows_per_bucket("bucket-z") == []


def test_attempt_counts_per_window(reader: ObjectReader, store: MetadataStore) -> None:
    attempt(store, "bucket-a", "k1", Outcome.FAILED, NOW - timedelta(minutes=1))
    attempt(store, "bucket-a", "k2", Outcome.RETRYING, NOW - timedelta(hours=2))
    attempt(store, "bucket-a", "k3", Outcome.SKIPPED, NOW - timedelta(days=3))
    attempt(store, "bucket-b", "k4", Outcome.FAILED, NOW - timedelta(minutes=1))
    windows = {"hour": NOW - timedelta(hours=1), "day": NOW - timedelta(days=1)}
    zero = dict.fromkeys((str(outcome) for outcome in Outcome), 0)

    assert reader.attempt_counts(windows, "bucket-a") == {
        "hour": {**zero, "failed": 1},
        "day": {**zero, "failed": 1, "retrying": 1},
    }
    assert reader.attempt_counts(windows)["hour"]["failed"] == 2
    assert reader.attempt_counts({}) == {}


def test_a_database_without_the_schema_says_so() -> None:
    engine = create_engine("sqlite://")
    reader = ObjectReader(engine)
    try:
        with pytest.raises(SchemaNotMigrated, match="alembic upgrade head"):
            reader.rows_per_bucket()
        with pytest.raises(SchemaNotMigrated):
            list(reader.iter_failed_keys())
    finally:
        engine.dispose()
