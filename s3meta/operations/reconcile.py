"""Comparing a bucket's listing with its rows in one streaming pass, and queueing repairs.

The comparison itself is ``s3meta.domain.reconcile``'s; this runs it over the listing and
the reader's rows (keys never seen in S3 left out, as listings leave them) and, when asked,
publishes one repair task per difference as it is found.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from s3meta.domain.events import ObjectEvent
from s3meta.domain.objects import Listed, ListedVersion
from s3meta.domain.reconcile import (
    Difference,
    Drift,
    Recorded,
    RecordedVersion,
    Tally,
    VersionDifference,
    differences,
    version_differences,
)
from s3meta.domain.records import ObjectFilter
from s3meta.domain.versions import version_event
from s3meta.domain.wording import counted
from s3meta.errors import ConfigError, S3MetaError

if TYPE_CHECKING:
    from db.reader import ObjectReader

# The event name a repair task carries: the row's event_name (and deleted_by for a stale
# row) then says that reconcile, not an S3 event, brought it up to date.
FIX_EVENT_NAMES = {
    Drift.MISSING: "Reconcile:Missing",
    Drift.STALE: "Reconcile:Stale",
    Drift.CHANGED: "Reconcile:Changed",
}


_D = TypeVar("_D", Difference, VersionDifference)


class RepairPublisher(Protocol):
    def publish(self, event: ObjectEvent) -> str:
        """Publish the task for ``event``; returns its task id once the broker has it."""
        ...


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one comparison found, and how many repair tasks it queued."""

    tally: Tally
    queued: int


def reconcile(
    reader: ObjectReader,
    listing: Iterable[Listed],
    bucket: str,
    prefix: str,
    *,
    publisher: RepairPublisher | None,
    on_difference: Callable[[Difference, str | None], None],
) -> Reconciled:
    """Compare ``listing`` (the objects under ``prefix``, in key order) with their rows.

    Each difference goes to ``on_difference`` as it is found, with the id of its repair task
    if ``publisher`` was given (None otherwise). A listing or rows out of order is a
    ``ConfigError`` (never a guess); an error after repairs were queued says how many.
    """
    tally = Tally()
    records = (
        Recorded(record.object_key, record.etag, record.size, record.is_deleted)
        for record in reader.iter_objects(ObjectFilter(bucket, prefix))
    )
    found = differences(listing, records, tally)
    return _repair(found, tally, bucket, prefix, publisher, on_difference)


def reconcile_versions(
    reader: ObjectReader,
    listing: Iterable[ListedVersion],
    bucket: str,
    prefix: str,
    *,
    publisher: RepairPublisher | None,
    on_difference: Callable[[VersionDifference, str | None], None],
) -> Reconciled:
    """``reconcile`` for versions: ``listing`` (ListObjectVersions, grouped by key in key
    order) against ``object_versions``; the tally counts versions and version rows."""
    tally = Tally()
    records = (
        RecordedVersion(
            version.object_key,
            str(version.version_id),
            version.etag,
            version.size,
            version.is_delete_marker,
            version.is_deleted,
        )
        for version in reader.iter_versions(bucket, prefix)
    )
    found = version_differences(listing, records, tally)
    return _repair(found, tally, bucket, prefix, publisher, on_difference)


def _repair(
    found: Iterable[_D],
    tally: Tally,
    bucket: str,
    prefix: str,
    publisher: RepairPublisher | None,
    on_difference: Callable[[_D, str | None], None],
) -> Reconciled:
    queued = 0
    try:
        for difference in found:
            task_id = None
            if publisher is not None:
                task_id = publisher.publish(repair_event(bucket, difference))
                queued += 1
            on_difference(difference, task_id)
    except ValueError as exc:  # the rows or listing out of order: never guess
        raise ConfigError(f"cannot reconcile s3://{bucket}/{prefix}: {exc}") from exc
    except S3MetaError as exc:
        if queued:
            raise type(exc)(
                f"{exc} (after queueing {counted(queued, 'repair task')}; running "
                "reconcile again is safe)"
            ) from exc
        raise
    return Reconciled(tally, queued)


def repair_event(bucket: str, difference: Difference | VersionDifference) -> ObjectEvent:
    """A task with no S3 event fields but its name: the worker reads the truth from S3. A
    version's names it, and a listed one's carries what backfilling it would."""
    name = FIX_EVENT_NAMES[difference.kind]
    if isinstance(difference, VersionDifference):
        if difference.listed is not None:
            return version_event(bucket, difference.listed, name)
        return ObjectEvent(bucket, difference.key, name, version_id=difference.version_id)
    return ObjectEvent(bucket=bucket, key=difference.key, event_name=name)
