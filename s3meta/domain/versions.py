"""Every version of a key in a versioned bucket, and the current record they make. Pure.

A change on a versioned bucket names one version: the event's (its task looks at that very
version with HeadObject's VersionId), else the one HeadObject found, or the delete marker
it found. ``versioned_transition`` writes that version's record and derives the key's
current record from every version known: the newest that was not removed (S3's order: the
sequencers of the versions' creation events; where one has none, LastModified to the
second, then the creation's event time). Whatever the order the changes come in, and
however often, the same versions give the same current record. Removing a version is final
(S3 never reuses a version id), so a version removed before its creation's task ran stays
removed. Unversioned buckets never come here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import fields, replace
from datetime import datetime, timedelta
from functools import cmp_to_key
from itertools import groupby
from typing import Any

from s3meta.domain.attempts import Outcome
from s3meta.domain.event_names import is_removal
from s3meta.domain.events import ObjectEvent
from s3meta.domain.objects import ListedVersion
from s3meta.domain.ordering import compare_sequencers, record_type
from s3meta.domain.provenance import FIELDS as PROVENANCE_FIELDS
from s3meta.domain.records import ObjectRecord, VersionRecord
from s3meta.domain.transitions import (
    STATE_FIELDS,
    Change,
    Transition,
    journal_entry,
    snapshot,
)

DELETE_MARKER_CREATED = "ObjectRemoved:DeleteMarkerCreated"
# Fields of a version that the current record takes from its newest version.
_CURRENT_FIELDS = (
    *STATE_FIELDS,
    "sequencer",
    "event_name",
    "event_time",
    *PROVENANCE_FIELDS,
)


def version_fields() -> tuple[str, ...]:
    """The columns of ``object_versions`` but its id, as ``VersionRecord`` fields."""
    return tuple(field.name for field in fields(VersionRecord))


def versioned_transition(
    stored: ObjectRecord | None,
    versions: Iterable[VersionRecord],
    change: Change,
    now: datetime,
) -> Transition:
    """What ``change`` (``change.version_id()`` not None) does to the key's versions and its
    current record ``stored``, given the ``versions`` recorded."""
    if stored is not None and now <= stored.updated_at:
        now = stored.updated_at  # a key's writes keep their order whatever the clocks
    version_id = change.version_id()
    assert version_id is not None, "an unversioned change"
    known = {version.version_id: version for version in versions}
    version = _version_after(known.get(version_id), version_id, change, now)
    known[version_id] = version
    after = _current(stored, known.values(), change, now)
    if stored is not None and _same(stored, after):
        return Transition(Outcome.SKIPPED, version=version)
    seen = stored if stored is not None and not stored.never_seen else None
    kind = record_type(snapshot(seen) if seen else None, snapshot(after))
    outcome = Outcome.GONE if after.is_deleted else Outcome.SUCCEEDED
    journal = journal_entry(after, kind, change, now) if kind and not after.never_seen else None
    return Transition(outcome, after, journal, version)


def version_event(bucket: str, listed: ListedVersion, event_name: str) -> ObjectEvent:
    """The event a task for a listed version carries: what its creation's event would, less
    what no listing has (sequencer, who and how), named ``event_name``. A delete marker's is
    its DeleteMarkerCreated: HeadObject cannot read a marker (405), so its task learns it
    from the event."""
    return ObjectEvent(
        bucket=bucket,
        key=listed.key,
        event_name=DELETE_MARKER_CREATED if listed.is_delete_marker else event_name,
        event_time=(listed.event_time or listed.last_modified).isoformat(),
        version_id=listed.version_id,
        size=listed.size,
        etag=listed.etag,
    )


def in_listed_order(listing: Iterable[ListedVersion]) -> Iterator[ListedVersion]:
    """``listing`` (ListObjectVersions: by key, each key's newest first) with event times
    that keep S3's order where LastModified cannot tell it.

    A version's event time is its LastModified plus a microsecond for each version of the
    same key and LastModified listed after it (older), below what S3 states (milliseconds;
    moto's, seconds): versions with no sequencer are ordered by time (``_compare``), and
    LastModified alone ties for versions of one second. One key's versions held at a time.
    """
    for _key, versions in groupby(listing, lambda listed: listed.key):
        of_key = list(versions)
        for rank, listed in enumerate(of_key):
            older_ties = sum(
                other.last_modified == listed.last_modified for other in of_key[rank + 1 :]
            )
            moment = listed.last_modified + timedelta(microseconds=older_ties)
            yield replace(listed, event_time=moment)


def newest(versions: Iterable[VersionRecord]) -> VersionRecord | None:
    """The newest version not removed (a delete marker included), or None."""
    standing = [version for version in versions if not version.is_deleted]
    return max(standing, key=cmp_to_key(_compare), default=None)


def in_order(versions: Iterable[VersionRecord]) -> list[VersionRecord]:
    """``versions`` newest first, as ListObjectVersions lists them."""
    return sorted(versions, key=cmp_to_key(_compare), reverse=True)


def _compare(a: VersionRecord, b: VersionRecord) -> int:
    if a.sequencer and b.sequencer:
        order = compare_sequencers(a.sequencer, b.sequencer)
        if order:
            return order
    # HeadObject's LastModified has whole seconds (a delete marker's, from its event, may
    # have more): compared to the second, then the creation's event time (a listing's
    # milliseconds, for a backfilled version) tells two versions of one second apart.
    order = _compare_times(_second(a.last_modified), _second(b.last_modified))
    if order or a.last_modified is None:
        return order
    return _compare_times(a.event_time, b.event_time)


def _second(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(microsecond=0)


def _compare_times(left: datetime | None, right: datetime | None) -> int:
    if left is None or right is None or left == right:
        return (left is not None) - (right is not None)
    return 1 if left > right else -1


def _version_after(
    stored: VersionRecord | None, version_id: str, change: Change, now: datetime
) -> VersionRecord:
    """The record of ``version_id`` once ``change`` is written in."""
    event = change.event
    version = stored or VersionRecord(
        bucket=change.bucket,
        object_key=change.key,
        version_id=version_id,
        created_at=change.first_known_at(now),
        updated_at=now,
    )
    updates: dict[str, Any] = {"updated_at": now, "last_task_id": change.task_id}
    # An event that names no version (not S3's way in a versioned bucket) is taken as the
    # creation of the version found, unless that one's creation is known.
    names_it = event.version_id == version_id or (
        event.version_id is None and change.state is not None and version.sequencer is None
    )
    creation = names_it and event.event_name is not None and not is_removal(event.event_name)
    if creation or (names_it and event.event_name == DELETE_MARKER_CREATED):
        # The version's own creation: its order among the key's versions.
        updates.update(
            sequencer=event.sequencer,
            event_name=event.event_name,
            event_time=event.event_time,
            **{name: getattr(event, name) for name in PROVENANCE_FIELDS},
        )
    if change.state is not None:
        updates.update((name, getattr(change.state, name)) for name in STATE_FIELDS)
        if change.state.tags is None and stored is not None:
            del updates["tags"]  # unfetched tags of the same version stay
    elif change.delete_marker == version_id or event.event_name == DELETE_MARKER_CREATED:
        updates["is_delete_marker"] = True
        if version.last_modified is None and event.event_time is not None and names_it:
            updates["last_modified"] = event.event_time
    if change.state is None and change.delete_marker != version_id and not version.is_deleted:
        # HeadObject found no such version: it was removed, for good.
        updates.update(
            is_deleted=True, deleted_at=change.removed_at(), deleted_by=change.removed_by()
        )
    return replace(version, **updates)


def _current(
    stored: ObjectRecord | None,
    versions: Iterable[VersionRecord],
    change: Change,
    now: datetime,
) -> ObjectRecord:
    """The key's current record: its newest standing version's, or deleted."""
    base = stored or ObjectRecord(
        bucket=change.bucket,
        object_key=change.key,
        created_at=change.first_known_at(now),
        updated_at=now,
        never_seen=True,
    )
    top = newest(versions)
    common: dict[str, Any] = {"updated_at": now, "last_task_id": change.task_id}
    if top is not None and not top.is_delete_marker:
        taken = {name: getattr(top, name) for name in _CURRENT_FIELDS}
        return replace(
            base,
            **taken,
            **common,
            is_deleted=False,
            never_seen=False,
            deleted_at=None,
            deleted_by=None,
        )
    existed = not base.never_seen or change.shows_existence()
    removal: dict[str, Any]
    if top is not None:  # a delete marker is the current version
        removal = {
            "deleted_at": top.event_time or top.last_modified or change.removed_at(),
            "deleted_by": DELETE_MARKER_CREATED,
            "sequencer": top.sequencer,
        }
    elif base.is_deleted and not base.never_seen:
        removal = {}  # still gone: the removal recorded stands
    else:
        removal = {"deleted_at": change.removed_at(), "deleted_by": change.removed_by()}
    return replace(base, **removal, **common, is_deleted=True, never_seen=not existed)


def _same(stored: ObjectRecord, after: ObjectRecord) -> bool:
    """Whether ``after`` holds what ``stored`` does, but when and by whom it was written."""
    return replace(after, updated_at=stored.updated_at, last_task_id=stored.last_task_id) == stored
