"""Comparing a bucket listing with the rows of ``object_metadata``. Pure: no I/O.

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
from typing import TypeVar

from s3meta.domain.objects import Listed, strip_etag


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
