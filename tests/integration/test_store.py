"""``MetadataStore`` on SQLite and MariaDB, its writes read back through ``ObjectReader``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from db.engine import create_engine, writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectFilter
from s3meta.domain.transitions import Change
from s3meta.errors import DatabaseUnavailable
from tests.support.writes import mark_deleted, save_state

MODIFIED = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
NO_EVENT = EventInfo()


def state(key: str, size: int = 1, bucket: str = "bucket-a") -> ObjectState:
    return ObjectState(
        bucket=bucket, key=key, size=size, etag=f"etag-{size}", last_modified=MODIFIED
    )


def test_saving_an_object_twice_leaves_one_row_with_the_latest_state(
    store: MetadataStore, reader: ObjectReader
) -> None:
    save_state(store, state("a.txt", size=1), NO_EVENT, "t1")
    save_state(store, state("a.txt", size=2), NO_EVENT, "t2")

    rows = list(reader.iter_objects(ObjectFilter("bucket-a")))

    assert [(r.object_key, r.size, r.last_task_id) for r in rows] == [("a.txt", 2, "t2")]
    assert rows[0].last_modified == MODIFIED


def test_keys_differing_only_in_case_are_different_objects(
    store: MetadataStore, reader: ObjectReader
) -> None:
    save_state(store, state("Readme"), NO_EVENT, "t1")
    save_state(store, state("README"), NO_EVENT, "t2")

    assert [r.object_key for r in reader.iter_objects(ObjectFilter("bucket-a"))] == [
        "README",
        "Readme",
    ]


def test_the_same_key_in_two_buckets_is_two_rows(
    store: MetadataStore, reader: ObjectReader
) -> None:
    save_state(store, state("k", bucket="bucket-a"), NO_EVENT, "t1")
    save_state(store, state("k", bucket="bucket-b"), NO_EVENT, "t2")

    assert reader.get("bucket-a", "k") is not None
    assert reader.get("bucket-b", "k") is not None


def test_a_removal_of_an_unknown_key_is_recorded_and_a_later_upload_revives_it(
    store: MetadataStore, reader: ObjectReader
) -> None:
    removal = EventInfo(event_name="ObjectRemoved:Delete", sequencer="00AA")
    mark_deleted(store, "bucket-a", "late.txt", removal, "t1")
    tombstone = reader.get("bucket-a", "late.txt")
    assert tombstone is not None
    assert tombstone.is_deleted is True
    assert tombstone.event_name == "ObjectRemoved:Delete"

    upload = EventInfo(event_name="ObjectCreated:Put", sequencer="00AB")
    save_state(store, state("late.txt"), upload, "t2")

    revived = reader.get("bucket-a", "late.txt")
    assert revived is not None
    assert revived.is_deleted is False
    assert revived.deleted_at is None
    assert revived.event_name == "ObjectCreated:Put"


def test_a_manual_requeue_keeps_the_event_fields_of_the_last_event(
    store: MetadataStore, reader: ObjectReader
) -> None:
    event = EventInfo(
        event_name="ObjectCreated:Put",
        event_time=datetime(2026, 11, 20, 10, 15, 30, 123000, tzinfo=UTC),
        sequencer="0055AED6DCD90281E5",
    )
    save_state(store, state("e.txt", size=1), event, "t1")
    save_state(store, state("e.txt", size=9), NO_EVENT, "t2")

    row = reader.get("bucket-a", "e.txt")

    assert row is not None
    assert (row.size, row.event_name, row.sequencer) == (9, "ObjectCreated:Put", event.sequencer)
    assert row.event_time == event.event_time


def test_who_and_how_are_kept_on_each_journal_entry_and_the_last_on_the_row(
    store: MetadataStore, reader: ObjectReader
) -> None:
    who: dict[str, Any] = {
        "principal_id": "AWS:AROAEXAMPLEROLEID:" + "s" * 400,
        "source_ip_address": "2001:db8::17",
        "request_id": "8F2C4E1B9A7D3E60",
        "host_id": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
        "configuration_id": "s3meta-uploads",
    }
    save_state(store, state("w.txt", size=1), EventInfo("ObjectCreated:Put", **who), "t1")
    save_state(store, state("w.txt", size=2), NO_EVENT, "t2")

    first, requeued = reader.history("bucket-a", "w.txt")
    row = reader.get("bucket-a", "w.txt")

    assert {name: getattr(first, name) for name in who} == who
    assert {name: getattr(requeued, name) for name in who} == dict.fromkeys(who)
    assert row is not None
    assert {name: getattr(row, name) for name in who} == who


def test_a_database_server_that_does_not_answer_is_unavailable() -> None:
    engine = create_engine(
        "mysql+pymysql://root@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    unreachable = MetadataStore(engine)

    with pytest.raises(DatabaseUnavailable):
        save_state(unreachable, state("x"), NO_EVENT, "t")
    engine.dispose()


@pytest.mark.mysql
def test_a_connection_killed_by_the_server_is_replaced_transparently(mysql_url: str) -> None:
    engine = writer_engine(mysql_url, pool_size=1, max_overflow=0)
    store = MetadataStore(engine)
    save_state(store, state("before"), NO_EVENT, "t1")
    with engine.connect() as connection:
        victim = connection.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
    killer = create_engine(mysql_url)
    with killer.begin() as connection:
        connection.execute(sa.text(f"KILL CONNECTION {int(victim)}"))
    killer.dispose()

    save_state(store, state("after"), NO_EVENT, "t2")

    assert ObjectReader(engine).get("bucket-a", "after") is not None
    engine.dispose()


def attempt(task_id: str, key: str) -> Attempt:
    return Attempt(task_id, "bucket-a", key, 1, Outcome.SUCCEEDED, MODIFIED, MODIFIED)


@pytest.mark.mysql
def test_an_insert_that_loses_the_race_for_a_new_key_is_decided_again_under_the_row_lock(
    mysql_url: str,
) -> None:
    engine = writer_engine(mysql_url)
    other = create_engine(mysql_url)
    upload = EventInfo(event_name="ObjectCreated:Put", sequencer="00A1")
    raced: list[str] = []

    def another_worker_first(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # After our locking read found no row, before our INSERT: another worker inserts it.
        if "INSERT INTO object_metadata" in statement and not raced:
            raced.append(statement)
            save_state(MetadataStore(other), state("k", size=1), upload, "other")

    event.listen(engine, "before_cursor_execute", another_worker_first)
    later = EventInfo(event_name="ObjectCreated:Put", sequencer="00A2")
    change = Change("bucket-a", "k", state("k", size=2), later, MODIFIED, "ours")

    applied = MetadataStore(engine).apply(change, attempt("ours", "k"))

    reader = ObjectReader(engine)
    row = reader.get("bucket-a", "k")
    assert raced
    assert applied.outcome is Outcome.SUCCEEDED
    assert row is not None
    assert (row.size, row.last_task_id) == (2, "ours")
    # Each wrote its own content once: the other worker's, then ours, decided after it.
    assert [(entry.task_id, entry.size) for entry in reader.history("bucket-a", "k")] == [
        ("other", 1),
        ("ours", 2),
    ]
    assert [(each.task_id, each.outcome) for each in reader.attempts("bucket-a", "k")] == [
        ("ours", Outcome.SUCCEEDED)
    ]
    engine.dispose()
    other.dispose()


@pytest.mark.mysql
def test_a_tasks_write_is_a_locking_read_one_query_and_a_commit_with_no_rollback_after(
    mysql_url: str,
) -> None:
    engine = writer_engine(mysql_url, pool_size=1, max_overflow=0)
    store = MetadataStore(engine)
    save_state(store, state("warm"), NO_EVENT, "t0")  # the connection is open
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    before = session_counts(engine)
    statements.clear()

    store.apply(
        Change("bucket-a", "k", state("k"), NO_EVENT, MODIFIED, "t1"),
        attempt("t1", "k"),
    )

    assert len(statements) == 2  # SELECT ... FOR UPDATE; the writes, as one query
    assert statements[0].rstrip().endswith("FOR UPDATE")
    # The row, its prefix totals' upsert, its journal entry, the attempt.
    assert statements[1].count("INSERT INTO") == 4
    assert statements[1].count("INSERT INTO prefix_totals") == 1
    # The one ROLLBACK is the first reading's own.
    assert session_counts(engine) == {
        "Com_commit": before["Com_commit"] + 1,
        "Com_rollback": before["Com_rollback"] + 1,
    }
    engine.dispose()


def session_counts(engine: sa.Engine) -> dict[str, int]:
    """The COMMITs and ROLLBACKs of the pool's one connection, read, then rolled back."""
    with engine.connect() as connection:
        query = "SHOW SESSION STATUS WHERE Variable_name IN ('Com_commit', 'Com_rollback')"
        counts = {name: int(value) for name, value in connection.exec_driver_sql(query)}
        connection.rollback()
    return counts
