"""What one change does to what s3meta holds about a key: nothing, or its next record.

``transition`` is the whole write rule, pure: given the stored record (or none) and what one
task learned, it applies the ordering rule (``s3meta.domain.ordering``) and returns the
outcome, the record to store and the journal entry to append. A store calls it under its
row lock and maps the result onto rows; nothing here knows how records are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from s3meta.domain.attempts import Outcome
from s3meta.domain.event_names import is_removal
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.ordering import (
    FOUND_GONE,
    Knowledge,
    RecordType,
    Snapshot,
    Stamp,
    is_newer,
    record_type,
)
from s3meta.domain.provenance import FIELDS as PROVENANCE_FIELDS
from s3meta.domain.records import JournalRecord, ObjectRecord, VersionRecord


@dataclass(frozen=True, slots=True)
class Change:
    """What one task learned about one key: its state now, or that it is gone."""

    bucket: str
    key: str
    state: ObjectState | None  # None: HeadObject said the object does not exist
    event: EventInfo  # empty for a manual requeue
    observed_at: datetime  # when HeadObject was made
    task_id: str | None = None
    delete_marker: str | None = None  # the version id of a delete marker HeadObject found

    def version_id(self) -> str | None:
        """The version this change is about, in a versioned bucket; None in an unversioned
        one (or one whose versioning is suspended: its versions are "null")."""
        state_version = self.state.version_id if self.state is not None else None
        for version in (self.event.version_id, state_version, self.delete_marker):
            if version and version != NULL_VERSION:
                return version
        return None

    def stamp(self) -> Stamp:
        if self.state is not None:
            return Stamp(self.event.sequencer, self.state.last_modified, looked_at=self.observed_at)
        return Stamp(self.event.sequencer, self.removed_at(), self.removal_knowledge())

    def removal_knowledge(self) -> Knowledge:
        """Whether a removal event says when the object went, or only HeadObject's 404."""
        if self.event.event_time is not None and is_removal(self.event.event_name):
            return Knowledge.REMOVED
        return Knowledge.FOUND_GONE

    def removed_at(self) -> datetime:
        """When the object went: its removal event's time, else when we found it gone."""
        if self.event.event_time is not None and is_removal(self.event.event_name):
            return self.event.event_time
        return self.observed_at

    def removed_by(self) -> str:
        """The removal event's name, else ``FOUND_GONE``."""
        if is_removal(self.event.event_name):
            return str(self.event.event_name)
        return FOUND_GONE

    def shows_existence(self) -> bool:
        """Whether this change shows the object existed: HeadObject found it, or S3 sent an
        event only an existing object has. A removal event does not: S3 sends one for a
        DELETE of a key that does not exist (a versioned bucket adds a delete marker)."""
        if self.state is not None:
            return True
        return self.event.event_name is not None and not is_removal(self.event.event_name)

    def first_known_at(self, now: datetime) -> datetime:
        """When s3meta first knew of the key, for a new record: the event, else the look."""
        times = [now, self.observed_at]
        if self.event.event_time is not None:
            times.append(self.event.event_time)
        return min(times)


@dataclass(frozen=True, slots=True)
class Transition:
    """What a change does: skipped (no record), or the record to store and its journal entry."""

    outcome: Outcome  # succeeded, gone, or skipped: the record held newer knowledge
    record: ObjectRecord | None = None
    journal: JournalRecord | None = None  # None: nothing happened to an object s3meta knows
    version: VersionRecord | None = None  # the version written (versioned buckets only)

    def applied(self) -> Applied:
        kind = RecordType(self.journal.record_type) if self.journal else None
        return Applied(self.outcome, kind, self.record)


@dataclass(frozen=True, slots=True)
class Applied:
    """What a store did with a change."""

    outcome: Outcome  # succeeded, gone, or skipped: the row held newer knowledge
    record_type: RecordType | None = None  # the journal entry written, if any
    record: ObjectRecord | None = None  # the record written (None when skipped)


# The version id S3 gives objects of a bucket that was never versioned or is suspended.
NULL_VERSION = "null"
# Every field of ObjectState but its identity is a field of ObjectRecord of the same name.
STATE_FIELDS = tuple(f.name for f in fields(ObjectState) if f.name not in {"bucket", "key"})
# The least step between two writes of a key (MySQL's DATETIME(6) holds microseconds).
_TICK = timedelta(microseconds=1)
# What tells two states of the same content apart (the journal's UPDATE_METADATA).
_DETAIL_FIELDS = tuple(name for name in STATE_FIELDS if name not in {"etag", "version_id"})


def transition(stored: ObjectRecord | None, change: Change, now: datetime) -> Transition:
    """What ``change``, written at ``now``, does to ``stored`` (None: no record yet)."""
    # A key never seen holds no knowledge that could be newer than anything.
    seen = stored if stored is not None and not stored.never_seen else None
    if stored is not None and not is_newer(change.stamp(), stored_stamp(seen)):
        return Transition(Outcome.SKIPPED)
    if stored is not None and now <= stored.updated_at:
        # Every write of a key is stamped later than the one before, whatever the clocks of
        # the workers say: ``updated_at`` orders a key's versions (the cache keeps the latest).
        now = stored.updated_at + _TICK
    if stored is not None and change.state is None and _removal_stands(stored, change):
        return _seen_before_its_removal(stored, change, now)
    if stored is None:
        stored = ObjectRecord(
            bucket=change.bucket,
            object_key=change.key,
            created_at=change.first_known_at(now),
            updated_at=now,
            never_seen=True,  # until the change says otherwise
        )
    after = _filled(stored, change, now)
    # Nothing happened to an object s3meta knows of: no journal entry for a key never seen.
    before = snapshot(seen) if seen is not None else None
    kind = None if after.never_seen else record_type(before, snapshot(after))
    outcome = Outcome.GONE if change.state is None else Outcome.SUCCEEDED
    return Transition(outcome, after, journal_entry(after, kind, change, now) if kind else None)


def _removal_stands(stored: ObjectRecord, change: Change) -> bool:
    """Whether ``stored`` holds a removal event that a 404 with no removal event can only add to.

    A removal event can reach the store before the task of the upload it removed: the record
    it leaves names the removal but is never seen, so no stamp of it stands in the way.
    """
    return (
        stored.is_deleted
        and is_removal(stored.deleted_by)
        and not is_removal(change.event.event_name)
    )


def _seen_before_its_removal(stored: ObjectRecord, change: Change, now: datetime) -> Transition:
    """An upload found gone after its removal was recorded: the key existed; the removal
    (when and how it went, and its event fields) stands."""
    if not stored.never_seen or not change.shows_existence():
        return Transition(Outcome.SKIPPED)
    after = replace(stored, never_seen=False, updated_at=now, last_task_id=change.task_id)
    removal = EventInfo(
        stored.event_name,
        stored.event_time,
        stored.sequencer,
        **{name: getattr(stored, name) for name in PROVENANCE_FIELDS},
    )
    journal = journal_entry(after, RecordType.DELETE, replace(change, event=removal), now)
    return Transition(Outcome.GONE, after, journal)


def stored_stamp(record: ObjectRecord | None) -> Stamp | None:
    """How new the knowledge ``record`` holds is; None for no record."""
    if record is None:
        return None
    if not record.is_deleted:
        return Stamp(record.sequencer, record.last_modified)
    # Rows written before FOUND_GONE existed name the upload whose task found the object gone.
    knowledge = Knowledge.REMOVED if is_removal(record.deleted_by) else Knowledge.FOUND_GONE
    return Stamp(record.sequencer, record.deleted_at, knowledge)


def _filled(record: ObjectRecord, change: Change, now: datetime) -> ObjectRecord:
    """``record`` with ``change`` written in: the whole state if live, the removal if gone."""
    state, event = change.state, change.event
    updates: dict[str, Any] = {}
    if state is None:
        # The removal event itself, when it comes, says best when and how the object went.
        if not record.is_deleted or record.never_seen or is_removal(event.event_name):
            updates.update(deleted_at=change.removed_at(), deleted_by=change.removed_by())
        # Once seen, a key stays seen: its record now says the object was deleted.
        never_seen = record.never_seen and not change.shows_existence()
        updates.update(is_deleted=True, never_seen=never_seen)
    else:
        updates.update(is_deleted=False, never_seen=False, deleted_at=None, deleted_by=None)
        updates.update((name, getattr(state, name)) for name in STATE_FIELDS)
        # Tags are fetched only when asked for: unfetched ones of the same content stay.
        same_content = (record.etag, record.version_id) == (state.etag, state.version_id)
        if state.tags is None and same_content:
            del updates["tags"]
    # A manual requeue carries no event: the last event's fields stay.
    if event.event_name is not None:
        updates["event_name"] = event.event_name
        # Who and how belong to the event: all of them replaced, absent ones with None.
        updates.update((name, getattr(event, name)) for name in PROVENANCE_FIELDS)
    if event.event_time is not None:
        updates["event_time"] = event.event_time
    if event.sequencer is not None:
        updates["sequencer"] = event.sequencer
    updates.update(updated_at=now, last_task_id=change.task_id)
    return replace(record, **updates)


def snapshot(record: ObjectRecord) -> Snapshot:
    """What tells ``record``'s state from another, for the journal."""
    details = tuple(_comparable(getattr(record, name)) for name in _DETAIL_FIELDS)
    return Snapshot(record.is_deleted, record.etag, record.version_id, details)


def _comparable(value: object) -> object:
    if isinstance(value, Mapping):
        return tuple(sorted(value.items()))
    return value


def journal_entry(
    record: ObjectRecord, kind: RecordType, change: Change, now: datetime
) -> JournalRecord:
    """The journal entry of ``change``, which made ``record`` at ``now``."""
    return JournalRecord(
        bucket=record.bucket,
        object_key=record.object_key,
        record_type=kind,
        version_id=record.version_id,
        etag=record.etag,
        size=record.size,
        sequencer=change.event.sequencer,
        event_name=change.event.event_name,
        event_time=change.event.event_time,
        applied_at=now,
        task_id=change.task_id,
        **{name: getattr(change.event, name) for name in PROVENANCE_FIELDS},
    )
