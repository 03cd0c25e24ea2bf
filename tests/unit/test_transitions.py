"""``s3meta.domain.transitions``: what one change does to a key's record, and its journal."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from db.models import JournalEntry, ObjectMetadata
from s3meta.domain.attempts import Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.ordering import FOUND_GONE, RecordType
from s3meta.domain.records import JournalRecord, ObjectRecord
from s3meta.domain.transitions import Change, Transition, transition

BUCKET, KEY = "bucket-a", "k"
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=5)
REQUEUE = EventInfo()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(size: int = 1, modified: float = 0, **details: Any) -> ObjectState:
    """A state whose ETag follows its size: the same size is the same content."""
    found = ObjectState(BUCKET, KEY, size=size, etag=f"etag-{size}", last_modified=at(modified))
    return replace(found, **details)


def created(sequencer: str | None = None, time: float = 0) -> EventInfo:
    return EventInfo("ObjectCreated:Put", at(time), sequencer)


def removed(sequencer: str | None = None, time: float = 0) -> EventInfo:
    return EventInfo("ObjectRemoved:Delete", at(time), sequencer)


def live(found: ObjectState, event: EventInfo = REQUEUE, looked: float = 1) -> Change:
    return Change(BUCKET, KEY, found, event, at(looked), "task-live")


def gone(event: EventInfo = REQUEUE, looked: float = 1) -> Change:
    return Change(BUCKET, KEY, None, event, at(looked), "task-gone")


def after(*changes: Change) -> ObjectRecord | None:
    """The record left by applying ``changes`` in order to no record."""
    record: ObjectRecord | None = None
    for change in changes:
        record = transition(record, change, NOW).record or record
    return record


def applied(stored: ObjectRecord | None, change: Change) -> ObjectRecord:
    decided = transition(stored, change, NOW)
    assert decided.record is not None, decided
    return decided.record


def test_a_live_state_of_an_unknown_key_creates_its_record_and_a_create_entry() -> None:
    found = state(size=5, modified=-60, content_type="text/plain", user_metadata={"a": "b"})

    decided = transition(None, live(found, created("0A", time=-30)), NOW)

    assert decided.outcome is Outcome.SUCCEEDED
    record = decided.record
    assert record is not None
    assert (record.size, record.etag, record.content_type) == (5, "etag-5", "text/plain")
    assert record.user_metadata == {"a": "b"}
    assert (record.event_name, record.sequencer, record.event_time) == (
        "ObjectCreated:Put",
        "0A",
        at(-30),
    )
    assert (record.is_deleted, record.never_seen, record.deleted_at) == (False, False, None)
    assert record.created_at == at(-30)  # the event came before the look
    assert (record.updated_at, record.last_task_id) == (NOW, "task-live")
    assert decided.journal == JournalRecord(
        BUCKET,
        KEY,
        RecordType.CREATE,
        None,
        "etag-5",
        5,
        "0A",
        "ObjectCreated:Put",
        at(-30),
        NOW,
        "task-live",
    )


@pytest.mark.parametrize(
    ("stored_event", "incoming", "wins"),
    [
        (created("0A"), live(state(size=2), created("0B")), True),  # newer sequencer
        (created("0B"), live(state(size=2, modified=60), created("0A", time=60)), False),
        (created("0A"), live(state(size=2, modified=5)), True),  # requeue, later LastModified
        (created("0A"), live(state(size=2, modified=-5)), False),  # requeue, older state
        (created("0A"), live(state(size=2)), True),  # same second: the later look wins
        (created("0B"), gone(removed("0A", time=60)), False),  # an older removal
        (created("0A"), gone(removed("0B", time=60)), True),
        (created("0A0"), live(state(size=2), created("0A01")), True),  # padded, then compared
    ],
    ids=[
        "newer-sequencer",
        "older-sequencer",
        "requeue-later",
        "requeue-older",
        "requeue-same-second",
        "older-removal",
        "newer-removal",
        "padded-sequencer",
    ],
)
def test_a_change_replaces_the_record_only_if_it_is_not_older(
    stored_event: EventInfo, incoming: Change, wins: bool
) -> None:
    stored = applied(None, live(state(size=1), stored_event))

    decided = transition(stored, incoming, NOW)

    assert (decided.outcome is not Outcome.SKIPPED) is wins
    if not wins:
        assert decided == Transition(Outcome.SKIPPED)


def test_a_removal_event_marks_the_record_deleted_by_itself_and_keeps_the_last_state() -> None:
    stored = applied(None, live(state(size=7), created("0A")))

    decided = transition(stored, gone(removed("0B", time=30)), NOW)

    assert decided.outcome is Outcome.GONE
    record = decided.record
    assert record is not None
    assert (record.is_deleted, record.deleted_at, record.deleted_by) == (
        True,
        at(30),
        "ObjectRemoved:Delete",
    )
    assert (record.size, record.etag, record.never_seen) == (7, "etag-7", False)
    assert record.created_at == stored.created_at
    assert decided.journal is not None
    assert decided.journal.record_type is RecordType.DELETE


def test_an_upload_found_gone_says_so_until_its_removal_event_names_itself() -> None:
    found_gone = applied(None, gone(created("0A", time=0), looked=20))

    assert (found_gone.is_deleted, found_gone.never_seen) == (True, False)
    assert (found_gone.deleted_by, found_gone.deleted_at) == (FOUND_GONE, at(20))
    decided = transition(found_gone, gone(removed("0B", time=10)), NOW)
    record = decided.record
    assert record is not None
    assert (record.deleted_by, record.deleted_at) == ("ObjectRemoved:Delete", at(10))
    assert decided.journal is None  # it was deleted already


def test_a_removal_event_applies_over_a_found_gone_record_even_with_an_older_time() -> None:
    found_gone = applied(None, gone(created("0A"), looked=60))

    decided = transition(found_gone, gone(removed("0A", time=5)), NOW)

    assert decided.outcome is Outcome.GONE
    assert decided.record is not None
    assert decided.record.deleted_at == at(5)


@pytest.mark.parametrize("stored_by", [removed("0A"), created("0A")], ids=["removed", "found"])
def test_a_404_over_a_record_already_deleted_adds_nothing(stored_by: EventInfo) -> None:
    stored = after(live(state(), created("00")), gone(stored_by, looked=1))

    assert stored is not None
    assert stored.is_deleted is True
    assert transition(stored, gone(looked=90), NOW) == Transition(Outcome.SKIPPED)


@pytest.mark.parametrize(
    ("change", "deleted_by"),
    [(gone(removed("0A")), "ObjectRemoved:Delete"), (gone(REQUEUE), FOUND_GONE)],
    ids=["removal-event", "requeue"],
)
def test_a_key_nothing_showed_existed_is_never_seen_and_journals_nothing(
    change: Change, deleted_by: str
) -> None:
    decided = transition(None, change, NOW)

    assert decided.outcome is Outcome.GONE
    assert decided.record is not None
    assert (decided.record.is_deleted, decided.record.never_seen) == (True, True)
    assert decided.record.deleted_by == deleted_by
    assert decided.journal is None


def test_a_never_seen_record_never_stands_in_the_way_of_a_state() -> None:
    phantom = applied(None, gone(removed("0B", time=60), looked=60))

    decided = transition(phantom, live(state(modified=-600), created("0A", time=-600)), NOW)

    assert decided.outcome is Outcome.SUCCEEDED
    assert decided.record is not None
    assert (decided.record.is_deleted, decided.record.never_seen) == (False, False)
    assert decided.record.deleted_by is None
    assert decided.journal is not None
    assert decided.journal.record_type is RecordType.CREATE


def test_a_removal_over_a_never_seen_record_names_itself_and_stays_never_seen() -> None:
    phantom = applied(None, gone(REQUEUE, looked=10))

    record = applied(phantom, gone(removed("0A", time=20)))

    assert (record.never_seen, record.deleted_by, record.deleted_at) == (
        True,
        "ObjectRemoved:Delete",
        at(20),
    )


def test_an_upload_found_gone_after_its_removal_was_recorded_keeps_the_removal() -> None:
    # The removal's task reached the store first: its record was never seen.
    phantom = applied(None, gone(removed(time=10), looked=10))

    decided = transition(phantom, gone(created(time=0), looked=20), NOW)

    assert decided.outcome is Outcome.GONE
    record = decided.record
    assert record is not None
    assert (record.is_deleted, record.never_seen) == (True, False)
    assert (record.deleted_by, record.deleted_at) == ("ObjectRemoved:Delete", at(10))
    assert (record.event_name, record.event_time) == ("ObjectRemoved:Delete", at(10))
    assert decided.journal is not None
    assert decided.journal.record_type is RecordType.DELETE
    assert decided.journal.event_name == "ObjectRemoved:Delete"


def test_a_requeue_found_gone_over_a_never_seen_removal_adds_nothing() -> None:
    phantom = applied(None, gone(removed(time=10), looked=10))

    assert transition(phantom, gone(REQUEUE, looked=30), NOW) == Transition(Outcome.SKIPPED)


def test_an_upload_after_a_removal_revives_the_record() -> None:
    deleted = after(live(state(size=1), created("0A")), gone(removed("0B", time=10)))

    decided = transition(deleted, live(state(size=3, modified=20), created("0C", time=20)), NOW)

    assert decided.record is not None
    assert (decided.record.is_deleted, decided.record.deleted_at, decided.record.size) == (
        False,
        None,
        3,
    )
    assert decided.journal is not None
    assert decided.journal.record_type is RecordType.CREATE


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (state(size=1, storage_class="GLACIER"), RecordType.UPDATE_METADATA),
        (state(size=1, user_metadata={"new": "x"}), RecordType.UPDATE_METADATA),
        (state(size=1, tags={"t": "1"}), RecordType.UPDATE_METADATA),
        (state(size=2), RecordType.CREATE),  # other content
        (state(size=1, version_id="v2"), RecordType.CREATE),  # another version
        (state(size=1), None),  # the same state again
    ],
    ids=["storage-class", "metadata", "tags", "content", "version", "same"],
)
def test_the_journal_tells_a_new_content_from_new_metadata_and_from_nothing_new(
    second: ObjectState, expected: RecordType | None
) -> None:
    stored = applied(None, live(state(size=1, tags={})))

    decided = transition(stored, live(second), NOW)

    assert decided.outcome is Outcome.SUCCEEDED
    assert (decided.journal.record_type if decided.journal else None) == expected


def test_tags_not_fetched_are_kept_for_the_same_content_and_dropped_for_another() -> None:
    stored = applied(None, live(state(size=1, tags={"team": "a"})))

    same = applied(stored, live(state(size=1)))
    other = applied(stored, live(state(size=2)))

    assert same.tags == {"team": "a"}
    assert other.tags is None


def test_a_manual_requeue_keeps_the_last_events_fields() -> None:
    stored = applied(None, live(state(size=1), created("0A", time=-5)))

    record = applied(stored, live(state(size=9), REQUEUE))

    assert (record.size, record.event_name, record.sequencer, record.event_time) == (
        9,
        "ObjectCreated:Put",
        "0A",
        at(-5),
    )
    assert record.last_task_id == "task-live"


def test_a_lifecycle_expiration_is_a_removal() -> None:
    record = applied(None, gone(EventInfo("LifecycleExpiration:Delete", at(3), "0A")))

    assert (record.deleted_by, record.deleted_at) == ("LifecycleExpiration:Delete", at(3))


_events = st.lists(st.booleans(), min_size=1, max_size=8).flatmap(
    lambda kinds: st.permutations(list(enumerate(kinds)))
)


@given(_events)
def test_whatever_the_order_of_a_keys_events_its_record_ends_as_the_newest_says(
    events: list[tuple[int, bool]],
) -> None:
    def change(number: int, removal: bool) -> Change:
        sequencer = f"{number:04X}"
        if removal:
            return gone(removed(sequencer, time=number), looked=number)
        return live(state(size=number, modified=number), created(sequencer, time=number))

    # The key existed before these events: a key never seen takes any state (see above).
    existing = live(state(size=0, modified=-1), created("0000", time=-1))
    record = after(existing, *(change(number + 1, removal) for number, removal in events))

    newest, removal = max(events)
    newest += 1
    assert record is not None
    assert record.sequencer == f"{newest:04X}"
    assert record.is_deleted is removal
    if not removal:
        assert record.size == newest


def test_every_column_of_object_metadata_but_its_id_is_a_field_of_object_record() -> None:
    columns = {column.name for column in ObjectMetadata.__table__.columns} - {"id"}

    assert {f.name for f in fields(ObjectRecord)} == columns


def test_every_column_of_object_journal_but_its_id_is_a_field_of_journal_record() -> None:
    columns = {column.name for column in JournalEntry.__table__.columns} - {"id"}

    assert {f.name for f in fields(JournalRecord)} == columns


def test_a_transition_leaves_the_record_it_was_given_unchanged() -> None:
    stored = applied(None, live(state(size=1)))
    copy = replace(stored)

    transition(stored, gone(removed("0B", time=60)), NOW)

    assert stored == copy
