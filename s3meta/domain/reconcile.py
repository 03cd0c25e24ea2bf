"""Comparing a bucket listing with the rows of ``object_metadata``, and a version listing with
those of ``object_versions``. Pure: no I/O.

Both sides arrive sorted by key in S3's order, the order of the keys' UTF-8 bytes, which is
also Python's order of ``str`` (UTF-8 preserves code point order); the database keeps keys
as bytes (VARBINARY on MySQL) so that its ``ORDER BY`` agrees. ``differences`` walks both
together once, holding one entry of each side at a time, so memory stays constant for any
bucket size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby
from typing import TypeVar

from s3meta.domain.objects import Listed, ListedVersion, strip_etag


class Drift(StrEnum):
    """How a key's row disagrees with the bucket."""

    MISSING = "missing"  # the object exists, no live row says so
    STALE = "stale"  # a live row says it exists, the object does not
    CHANGED = "changed"  # both exist, their ETag or size differ


@dataclass(frozen=True, slots=True)
class Recorded:
    """One row of ``object_metadata``."""

    key: str
    etag: str | None
    size: int | None
    deleted: bool


_Entry = TypeVar("_Entry", Listed, Recorded)


@dataclass(frozen=True, slots=True)
class Difference:
    """One key on which the rows and the bucket disagree."""

    kind: Drift
    key: str
    listed: Listed | None = None  # None for STALE
    recorded: Recorded | None = None  # None for MISSING without any row


@dataclass(slots=True)
class Tally:
    """Counts of one comparison, filled in as ``differences`` runs."""

    listed: int = 0  # objects in the listing
    rows: int = 0  # rows read, deleted ones included
    live_rows: int = 0  # rows read that are not marked deleted
    in_sync: int = 0  # objects whose live row matches (ETag and size)
    missing: int = 0
    stale: int = 0
    changed: int = 0

    @property
    def drift(self) -> int:
        return self.missing + self.stale + self.changed

    def count(self, kind: Drift) -> None:
        if kind is Drift.MISSING:
            self.missing += 1
        elif kind is Drift.STALE:
            self.stale += 1
        else:
            self.changed += 1


def differences(
    listing: Iterable[Listed], rows: Iterable[Recorded], tally: Tally | None = None
) -> Iterator[Difference]:
    """The differences between ``listing`` and ``rows``, in key order.

    Both must be sorted by the UTF-8 bytes of their keys, each key at most once per side;
    ``ValueError`` if they are not (a wrong order would silently report false drift).
    A row marked deleted for a key that is not listed is in sync: that is what it says.
    ``tally``, if given, is updated as the comparison goes, final once this is exhausted.
    """
    counts = tally if tally is not None else Tally()
    objects = _checked(listing, "listing")
    records = _checked(rows, "rows")
    obj = next(objects, None)
    row = next(records, None)
    while obj is not None or row is not None:
        if row is None or (obj is not None and _sort_key(obj.key) < _sort_key(row.key)):
            assert obj is not None
            counts.listed += 1
            counts.count(Drift.MISSING)
            yield Difference(Drift.MISSING, obj.key, listed=obj)
            obj = next(objects, None)
            continue
        counts.rows += 1
        counts.live_rows += not row.deleted
        if obj is None or _sort_key(row.key) < _sort_key(obj.key):
            if not row.deleted:
                counts.count(Drift.STALE)
                yield Difference(Drift.STALE, row.key, recorded=row)
            row = next(records, None)
            continue
        counts.listed += 1
        kind = _compare(obj, row)
        if kind is None:
            counts.in_sync += 1
        else:
            counts.count(kind)
            yield Difference(kind, obj.key, listed=obj, recorded=row)
        obj = next(objects, None)
        row = next(records, None)


def _compare(obj: Listed, row: Recorded) -> Drift | None:
    if row.deleted:
        return Drift.MISSING
    if strip_etag(obj.etag) != strip_etag(row.etag or "") or obj.size != row.size:
        return Drift.CHANGED
    return None


def _sort_key(key: str) -> bytes:
    # surrogatepass: a key read back with lone surrogates still sorts rather than crashing.
    return key.encode("utf-8", "surrogatepass")


def _checked(entries: Iterable[_Entry], side: str) -> Iterator[_Entry]:
    """``entries``, raising ``ValueError`` as soon as one is not after the one before."""
    previous: bytes | None = None
    for entry in entries:
        current = _sort_key(entry.key)
        if previous is not None and current <= previous:
            raise ValueError(
                f"{side} not in strictly increasing key order at {entry.key!r}: "
                "expected UTF-8 byte order, each key once"
            )
        previous = current
        yield entry


@dataclass(frozen=True, slots=True)
class RecordedVersion:
    """One row of ``object_versions``."""

    key: str
    version_id: str
    etag: str | None
    size: int | None
    delete_marker: bool
    removed: bool  # a DELETE named the version: it no longer stands


@dataclass(frozen=True, slots=True)
class VersionDifference:
    """One version on which ``object_versions`` and ListObjectVersions disagree: MISSING (no
    standing row), STALE (a standing row, not listed) or CHANGED (kind, ETag or size)."""

    kind: Drift
    key: str
    version_id: str
    listed: ListedVersion | None = None  # None for STALE
    recorded: RecordedVersion | None = None  # None for MISSING without any row


def version_differences(
    listing: Iterable[ListedVersion],
    rows: Iterable[RecordedVersion],
    tally: Tally | None = None,
) -> Iterator[VersionDifference]:
    """The differences between ``listing`` and ``rows``, key by key in key order.

    Both must be grouped by key, the keys in UTF-8 byte order (``ValueError`` otherwise);
    within a key the order does not matter, and only one key's versions are held at a time.
    A removed version's row that is not listed is in sync. In ``tally``, objects are
    versions listed and live rows the standing ones.
    """
    counts = tally if tally is not None else Tally()
    listed_keys = _by_key(listing, "listing")
    row_keys = _by_key(rows, "rows")
    listed = next(listed_keys, None)
    recorded = next(row_keys, None)
    while listed is not None or recorded is not None:
        if recorded is None or (
            listed is not None and _sort_key(listed[0]) < _sort_key(recorded[0])
        ):
            assert listed is not None
            yield from _key_differences(listed[0], listed[1], [], counts)
            listed = next(listed_keys, None)
        elif listed is None or _sort_key(recorded[0]) < _sort_key(listed[0]):
            yield from _key_differences(recorded[0], [], recorded[1], counts)
            recorded = next(row_keys, None)
        else:
            yield from _key_differences(listed[0], listed[1], recorded[1], counts)
            listed = next(listed_keys, None)
            recorded = next(row_keys, None)


_Version = TypeVar("_Version", ListedVersion, RecordedVersion)


def _by_key(entries: Iterable[_Version], side: str) -> Iterator[tuple[str, list[_Version]]]:
    """``entries`` a key at a time; ``ValueError`` as soon as a key is not after the last."""
    previous: bytes | None = None
    for key, group in groupby(entries, lambda entry: entry.key):
        current = _sort_key(key)
        if previous is not None and current <= previous:
            raise ValueError(
                f"{side} not grouped by key in increasing key order at {key!r}: "
                "expected UTF-8 byte order"
            )
        previous = current
        yield key, list(group)


def _key_differences(
    key: str, listed: list[ListedVersion], rows: list[RecordedVersion], counts: Tally
) -> Iterator[VersionDifference]:
    recorded = {row.version_id: row for row in rows}
    if len(recorded) < len(rows):
        raise ValueError(f"rows hold a version of {key!r} twice")
    counts.rows += len(rows)
    counts.live_rows += sum(not row.removed for row in rows)
    seen: set[str] = set()
    for version in listed:
        if version.version_id in seen:
            raise ValueError(f"listing holds version {version.version_id!r} of {key!r} twice")
        seen.add(version.version_id)
        counts.listed += 1
        row = recorded.get(version.version_id)
        kind = _compare_version(version, row)
        if kind is None:
            counts.in_sync += 1
            continue
        counts.count(kind)
        yield VersionDifference(kind, key, version.version_id, listed=version, recorded=row)
    for row in rows:
        if row.version_id not in seen and not row.removed:
            counts.count(Drift.STALE)
            yield VersionDifference(Drift.STALE, key, row.version_id, recorded=row)


def _compare_version(listed: ListedVersion, row: RecordedVersion | None) -> Drift | None:
    if row is None or row.removed:
        return Drift.MISSING
    if row.delete_marker != listed.is_delete_marker:
        return Drift.CHANGED
    if listed.is_delete_marker:
        return None
    same_etag = strip_etag(listed.etag or "") == strip_etag(row.etag or "")
    return None if same_etag and listed.size == row.size else Drift.CHANGED
