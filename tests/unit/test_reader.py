"""``ObjectReader``'s objects, journal and attempts on SQLite: keyset pages and filters.

MariaDB runs the same listing rules in tests/integration/test_reader.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from db.engine import create_engine
from db.models import JournalEntry, ObjectMetadata, TaskAttempt
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import (
    AttemptRecord,
    JournalRecord,
    ObjectFilter,
    ObjectRecord,
    Position,
)
from s3meta.errors import SchemaNotMigrated
from tests.support.writes import mark_deleted, save_state

MODIFIED = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
UPLOAD = EventInfo(event_name="ObjectCreated:Put", event_time=MODIFIED, sequencer="00A1")
REMOVAL = EventInfo(event_name="ObjectRemoved:Delete", event_time=MODIFIED, sequencer="00A2")


def put(store: MetadataStore, key: str, bucket: str = "bucket-a", **fields: Any) -> None:
    fields.setdefault("size", 1)
    state = ObjectState(bucket=bucket, key=key, etag="e", last_modified=MODIFIED, **fields)
    save_state(store, state, UPLOAD, f"task-{key}")


def keys(records: Iterable[ObjectRecord]) -> list[tuple[str, str]]:
    return [(record.bucket, record.object_key) for record in records]


def walk(reader: ObjectReader, where: ObjectFilter, limit: int) -> list[list[tuple[str, str]]]:
    """Every page of ``where``, following each page's ``next_after``."""
    pages = []
    after: Position | None = None
    while True:
        page = reader.page(where, after=after, limit=limit)
        pages.append(keys(page.records))
        if page.next_after is None:
            return pages
        assert page.next_after == (page.records[-1].bucket, page.records[-1].object_key)
        after = page.next_after


@pytest.mark.parametrize(
    ("record", "model"),
    [(ObjectRecord, ObjectMetadata), (JournalRecord, JournalEntry), (AttemptRecord, TaskAttempt)],
)
def test_each_record_has_a_field_for_every_column_of_its_table_but_the_id(
    record: type, model: type
) -> None:
    columns = set(model.__table__.columns.keys()) - {"id"}  # type: ignore[attr-defined]

    assert {field.name for field in dataclasses.fields(record)} == columns


def test_get_returns_the_row_as_a_read_only_record(
    store: MetadataStore, reader: ObjectReader
) -> None:
    put(store, "a.txt", user_metadata={"owner": "zoë"}, tags={"team": "data"})

    record = reader.get("bucket-a", "a.txt")

    assert record is not None
    assert (record.uri, record.size, record.last_modified) == ("s3://bucket-a/a.txt", 1, MODIFIED)
    assert (record.sequencer, record.last_task_id, record.is_deleted) == (
        "00A1",
        "task-a.txt",
        False,
    )
    assert record.user_metadata == {"owner": "zoë"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.size = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.tags["team"] = "other"  # type: ignore[index]


def test_get_of_an_unknown_key_is_none(store: MetadataStore, reader: ObjectReader) -> None:
    put(store, "a.txt")

    assert reader.get("bucket-a", "A.txt") is None
    assert reader.get("bucket-b", "a.txt") is None


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 8, 100])
def test_pages_cover_a_bucket_once_in_byte_order_whatever_their_size(
    store: MetadataStore, reader: ObjectReader, limit: int
) -> None:
    names = ["b", "a", "a ", "a/b", "B", "é", "日本", "z"]
    for key in names:
        put(store, key)
    put(store, "other", bucket="bucket-b")

    pages = walk(reader, ObjectFilter("bucket-a"), limit)

    expected = [("bucket-a", key) for key in sorted(names, key=str.encode)]
    assert [key for page in pages for key in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    # A last page is never empty: a page says no more follow only when none does.
    assert 0 < len(pages[-1]) <= limit


def test_without_a_bucket_pages_go_through_every_bucket_in_order(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for bucket, key in [("bucket-b", "a"), ("bucket-a", "z"), ("bucket-c", "m"), ("bucket-a", "b")]:
        put(store, key, bucket=bucket)

    pages = walk(reader, ObjectFilter(), 1)

    assert [key for page in pages for key in page] == [
        ("bucket-a", "b"),
        ("bucket-a", "z"),
        ("bucket-b", "a"),
        ("bucket-c", "m"),
    ]


def test_a_position_in_another_bucket_gives_all_of_a_later_bucket_and_none_of_an_earlier(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for key in ["k1", "k2"]:
        put(store, key, bucket="bucket-b")
    where = ObjectFilter("bucket-b")

    assert keys(reader.page(where, after=("bucket-a", "zzz")).records) == [
        ("bucket-b", "k1"),
        ("bucket-b", "k2"),
    ]
    page = reader.page(where, after=("bucket-c", ""))
    assert (list(page.records), page.next_after) == ([], None)


def test_rows_written_between_pages_neither_repeat_nor_shift_the_next_page(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for key in ["b", "d", "f"]:
        put(store, key)
    where = ObjectFilter("bucket-a")

    first = reader.page(where, limit=2)
    put(store, "a")  # before the position: not in a later page
    put(store, "c")  # after it: in the next page
    put(store, "d", size=9)  # already read: not again
    second = reader.page(where, after=first.next_after, limit=2)

    assert keys(first.records) == [("bucket-a", "b"), ("bucket-a", "d")]
    assert keys(second.records) == [("bucket-a", "f")]
    assert second.next_after is None


def test_iter_objects_streams_every_page_after_a_position(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for number in range(7):
        put(store, f"k{number}")

    streamed = reader.iter_objects(ObjectFilter("bucket-a"), after=("bucket-a", "k1"), page_size=2)

    assert [record.object_key for record in streamed] == ["k2", "k3", "k4", "k5", "k6"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("50%", ["50%/x"]),
        ("a_", ["a_b"]),
        ("a\\", ["a\\b"]),
        ("a", ["a\\b", "a_b", "ab"]),
        ("A", ["Ab"]),
        ("é", ["éa"]),
        ("E", []),
    ],
)
def test_a_prefix_is_literal_and_case_sensitive(
    store: MetadataStore, reader: ObjectReader, prefix: str, expected: list[str]
) -> None:
    for key in ["50%/x", "50x/y", "a_b", "ab", "a\\b", "Ab", "éa", "Éa"]:
        put(store, key)

    listed = reader.iter_objects(ObjectFilter("bucket-a", prefix), page_size=1)

    assert [record.object_key for record in listed] == expected


def test_deleted_rows_are_listed_unless_left_out_and_never_seen_keys_only_when_asked(
    store: MetadataStore, reader: ObjectReader
) -> None:
    put(store, "live")
    put(store, "removed")
    mark_deleted(store, "bucket-a", "removed", REMOVAL, "t")
    mark_deleted(store, "bucket-a", "phantom", EventInfo(), "t")  # HeadObject never found it

    def listed(*, include_deleted: bool = True, include_never_seen: bool = False) -> list[str]:
        where = ObjectFilter(
            "bucket-a", include_deleted=include_deleted, include_never_seen=include_never_seen
        )
        return [record.object_key for record in reader.iter_objects(where)]

    assert listed() == ["live", "removed"]
    assert listed(include_deleted=False) == ["live"]
    assert listed(include_never_seen=True) == ["live", "phantom", "removed"]
    assert listed(include_deleted=False, include_never_seen=True) == ["live"]


def test_a_prefix_without_a_bucket_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a bucket"):
        ObjectFilter(prefix="logs/")


def test_a_page_of_no_rows_is_refused(reader: ObjectReader) -> None:
    with pytest.raises(ValueError, match="limit must be positive"):
        reader.page(ObjectFilter("bucket-a"), limit=0)


def test_history_is_the_journal_oldest_first(store: MetadataStore, reader: ObjectReader) -> None:
    put(store, "k")
    put(store, "k", size=2)
    mark_deleted(store, "bucket-a", "k", REMOVAL, "t-delete")
    put(store, "other")

    journal = reader.history("bucket-a", "k")

    assert [entry.record_type for entry in journal] == ["CREATE", "UPDATE_METADATA", "DELETE"]
    assert all(isinstance(entry, JournalRecord) for entry in journal)
    assert (journal[-1].task_id, journal[-1].event_name) == ("t-delete", "ObjectRemoved:Delete")
    assert reader.history("bucket-a", "unknown") == []


def test_attempts_are_every_run_oldest_first(store: MetadataStore, reader: ObjectReader) -> None:
    for number, outcome in enumerate([Outcome.RETRYING, Outcome.SUCCEEDED], start=1):
        store.record_attempt(
            Attempt("t", "bucket-a", "k", number, outcome, MODIFIED, MODIFIED, "E", "why")
        )

    attempts = reader.attempts("bucket-a", "k")

    assert [(a.attempt, a.outcome, a.object_key) for a in attempts] == [
        (1, "retrying", "k"),
        (2, "succeeded", "k"),
    ]
    assert attempts[0].finished_at == MODIFIED
    assert reader.attempts("bucket-a", "other") == []


def test_a_database_without_the_schema_says_to_migrate(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    unmigrated = ObjectReader(engine)
    try:
        with pytest.raises(SchemaNotMigrated, match="alembic upgrade head"):
            unmigrated.get("bucket-a", "x")
        with pytest.raises(SchemaNotMigrated):
            unmigrated.page(ObjectFilter("bucket-a"))
        with pytest.raises(SchemaNotMigrated):
            unmigrated.history("bucket-a", "x")
    finally:
        engine.dispose()
