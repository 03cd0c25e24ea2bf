"""Which of two pieces of knowledge about one key is newer, and what a change amounts to.

Every write s3meta makes comes from a HeadObject made *after* the event that asked for it
(S3 is strongly consistent), so its state is at least as new as that event. The danger is a
slow task: one that looked early but writes late, over what a quicker task saw later. The
rule, applied to the stored row and the incoming write under a row lock:

1. No stored row: apply.
2. Both carry an event sequencer (S3's per-key order) and they differ: the greater wins.
   Sequencers of different lengths compare after right-padding the shorter with zeros.
3. Otherwise (equal sequencers, i.e. the same event again, or a manual requeue with none):
   compare S3 times. A live state's time is its LastModified; a removal's time is the
   removal event's time, or, for a HeadObject 404 with no removal event, when that
   HeadObject was made. The incoming write applies if its time is not older. S3 times have
   one-second resolution: two writes in the same second tie, and the later look wins.
   A removal's time has finer resolution than the LastModified of an upload in the same
   second (LastModified is truncated to it): there the upload's HeadObject decides. If it
   looked after the removal, the object was put again after the removal, and the upload wins
   (issue 16's chaos test found an object put again in the second of its delete left deleted).
4. If either time is unknown, apply: there is no evidence that the incoming write is older.

A removal found by HeadObject (a 404 with no removal event: the task of an upload that was
deleted before it looked) knows only that the object was gone by then. When the removal
event itself comes, it applies over that unless its sequencer is older (rule 2): it says
when and how the object went. A removal found by HeadObject over a row already deleted adds
nothing and is skipped: the row keeps the removal (and the event fields) it holds. So does
one over a removal event that reached the store before its upload's task (a row never seen):
it only says that the key existed (``s3meta.domain.transitions``).

A write that loses is recorded as skipped; it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# The resolution of LastModified as HeadObject gives it.
_S3_SECOND = timedelta(seconds=1)


class RecordType(StrEnum):
    """What a change did to a key, as the journal records it (as Amazon S3 Metadata does)."""

    CREATE = "CREATE"  # a new object, or a new version of its content
    UPDATE_METADATA = "UPDATE_METADATA"  # same content; metadata, tags, class or lock changed
    DELETE = "DELETE"


# ``deleted_by`` of a removal that HeadObject found, before (or without) a removal event.
FOUND_GONE = "HeadObject:NotFound"


class Knowledge(StrEnum):
    """What a piece of knowledge about a key says."""

    LIVE = "live"  # HeadObject found the object
    REMOVED = "removed"  # a removal event said when it went
    FOUND_GONE = "found gone"  # HeadObject found no object, and no removal event said when


@dataclass(frozen=True, slots=True)
class Stamp:
    """How new one piece of knowledge about a key is."""

    sequencer: str | None
    time: datetime | None  # LastModified if live; when it was removed if deleted
    knowledge: Knowledge = Knowledge.LIVE
    looked_at: datetime | None = None  # when HeadObject found a live state, if known


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What distinguishes one state of a key from another, for the journal."""

    deleted: bool
    etag: str | None = None
    version_id: str | None = None
    details: tuple[object, ...] = ()  # metadata, tags, storage class, lock, restore...


def compare_sequencers(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` is older than, the same as, or newer than ``b`` (same key only)."""
    width = max(len(a), len(b))
    left, right = a.upper().ljust(width, "0"), b.upper().ljust(width, "0")
    return (left > right) - (left < right)


def is_newer(incoming: Stamp, stored: Stamp | None) -> bool:
    """True if a write stamped ``incoming`` may replace a row stamped ``stored``."""
    if stored is None:
        return True
    if incoming.knowledge is Knowledge.FOUND_GONE and stored.knowledge is not Knowledge.LIVE:
        return False
    if incoming.sequencer and stored.sequencer:
        order = compare_sequencers(incoming.sequencer, stored.sequencer)
        if order:
            return order > 0
    if incoming.knowledge is Knowledge.REMOVED and stored.knowledge is Knowledge.FOUND_GONE:
        return True
    if incoming.time is None or stored.time is None:
        return True
    if (
        incoming.knowledge is Knowledge.LIVE
        and stored.knowledge is not Knowledge.LIVE
        and incoming.looked_at is not None
        and incoming.time <= stored.time < incoming.time + _S3_SECOND
    ):
        # Removed within the second of the upload's LastModified: which came first is
        # whether the HeadObject that found the object live looked after the removal.
        return incoming.looked_at > stored.time
    return incoming.time >= stored.time


def record_type(before: Snapshot | None, after: Snapshot) -> RecordType | None:
    """The journal record for going from ``before`` to ``after``; None if nothing changed."""
    if after.deleted:
        if before is not None and before.deleted:
            return None
        return RecordType.DELETE
    if before is None or before.deleted:
        return RecordType.CREATE
    if (before.etag, before.version_id) != (after.etag, after.version_id):
        return RecordType.CREATE
    if before.details != after.details:
        return RecordType.UPDATE_METADATA
    return None
