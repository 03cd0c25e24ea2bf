"""``s3meta.operations.query``: what ``show`` and ``list`` find, on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from db.models import ObjectMetadata
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectFilter
from s3meta.operations import query
from tests.support.writes import mark_deleted, save_state

MODIFIED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
UPLOAD = EventInfo(event_name="ObjectCreated:Put", event_time=MODIFIED, sequencer="00A1")


def put(store: MetadataStore, key: str) -> None:
    state = ObjectState(bucket="bucket-a", key=key, size=1, etag="e", last_modified=MODIFIED)
    save_state(store, state, UPLOAD, "t")


def test_show_gives_the_row_and_no_journal_unless_asked(
    store: MetadataStore, reader: ObjectReader
) -> None:
    put(store, "k")

    shown = query.show(reader, "bucket-a", "k")

    assert shown.record is not None
    assert (shown.uri, shown.record.size, list(shown.journal)) == ("s3://bucket-a/k", 1, [])


def test_show_with_history_gives_the_row_and_its_journal(
    store: MetadataStore, reader: ObjectReader
) -> None:
    put(store, "k")
    mark_deleted(store, "bucket-a", "k", EventInfo(event_name="ObjectRemoved:Delete"), "t2")

    shown = query.show(reader, "bucket-a", "k", history=True)

    assert shown.record is not None
    assert shown.record.is_deleted is True
    assert [entry.record_type for entry in shown.journal] == ["CREATE", "DELETE"]


def test_show_of_an_unknown_key_is_not_recorded(store: MetadataStore, reader: ObjectReader) -> None:
    put(store, "k")

    with pytest.raises(query.NotRecorded) as raised:
        query.show(reader, "bucket-a", "K", history=True)

    assert not isinstance(raised.value, query.NeverSeen)
    assert str(raised.value) == "no record of s3://bucket-a/K"


def test_show_of_a_key_never_seen_in_s3_says_when_it_was_looked_for(
    store: MetadataStore, reader: ObjectReader
) -> None:
    removal = EventInfo(event_name="ObjectRemoved:Delete", event_time=MODIFIED)
    mark_deleted(store, "bucket-a", "typo", removal, "t")
    record = reader.get("bucket-a", "typo")
    assert record is not None

    with pytest.raises(query.NeverSeen) as raised:
        query.show(reader, "bucket-a", "typo", history=True)

    looked = record.updated_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    assert raised.value.record == record
    assert str(raised.value) == (
        "s3://bucket-a/typo was never seen in S3: HeadObject found no object"
        f" (last looked {looked} after ObjectRemoved:Delete at 2026-11-20T10:00:00.000000Z)"
    )


def test_a_never_seen_line_without_an_event_names_only_the_look(
    store: MetadataStore, reader: ObjectReader
) -> None:
    mark_deleted(store, "bucket-a", "requeued", EventInfo(), "t")
    record = reader.get("bucket-a", "requeued")
    assert record is not None

    line = query.never_seen_line(record)

    assert line.startswith("s3://bucket-a/requeued was never seen in S3: HeadObject found no")
    assert line.endswith(")")
    assert " after " not in line


def test_a_journal_that_outlived_its_row_is_still_shown(
    store: MetadataStore, reader: ObjectReader, engine: sa.Engine
) -> None:
    put(store, "purged")
    with Session(engine) as session, session.begin():
        session.execute(sa.delete(ObjectMetadata).where(ObjectMetadata.object_key == "purged"))

    shown = query.show(reader, "bucket-a", "purged", history=True)

    assert shown.record is None
    assert [entry.record_type for entry in shown.journal] == ["CREATE"]
    with pytest.raises(query.NotRecorded):
        query.show(reader, "bucket-a", "purged")


def test_listing_stops_at_the_limit_and_without_one_gives_everything(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for key in ["c", "a", "b"]:
        put(store, key)
    where = ObjectFilter("bucket-a")

    assert [r.object_key for r in query.list_objects(reader, where, limit=2)] == ["a", "b"]
    assert [r.object_key for r in query.list_objects(reader, where)] == ["a", "b", "c"]


def test_a_first_page_says_whether_more_follow(store: MetadataStore, reader: ObjectReader) -> None:
    for key in ["a", "b", "c"]:
        put(store, key)
    where = ObjectFilter("bucket-a")

    short = query.first_page(reader, where, limit=2)
    whole = query.first_page(reader, where, limit=3)

    assert ([r.object_key for r in short.records], short.next_after) == (
        ["a", "b"],
        ("bucket-a", "b"),
    )
    assert (len(whole.records), whole.next_after) == (3, None)
