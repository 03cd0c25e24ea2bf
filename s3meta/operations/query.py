"""What ``s3meta show`` and ``s3meta list`` find: one object with its journal, or a listing.

The rules live here, apart from printing: a key the record knows nothing of, or only that
HeadObject never found it, is not an object to show; a journal can outlive its row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from s3meta.domain.records import JournalRecord, ObjectFilter, ObjectPage, ObjectRecord
from s3meta.domain.times import iso_utc
from s3meta.errors import S3MetaError

if TYPE_CHECKING:
    from db.reader import ObjectReader


class NotRecorded(S3MetaError):
    """The record holds nothing to show for a key: no row, and no journal entry."""


class NeverSeen(NotRecorded):
    """The key's only row says HeadObject never found the object, and it has no journal."""

    def __init__(self, record: ObjectRecord) -> None:
        super().__init__(never_seen_line(record))
        self.record = record


@dataclass(frozen=True, slots=True)
class Shown:
    """What the record holds for one key."""

    bucket: str
    key: str
    # None only with a journal: it outlived the row (purged by hand).
    record: ObjectRecord | None
    journal: Sequence[JournalRecord]  # oldest first; empty unless asked for

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def show(reader: ObjectReader, bucket: str, key: str, *, history: bool = False) -> Shown:
    """The row of ``bucket``/``key`` and, with ``history``, its journal.

    Raises ``NeverSeen`` if the row only says HeadObject never found the object, else
    ``NotRecorded`` if there is nothing at all; a journal is something either way.
    """
    record = reader.get(bucket, key)
    journal = reader.history(bucket, key) if history else []
    if record is None and not journal:
        raise NotRecorded(f"no record of s3://{bucket}/{key}")
    if record is not None and record.never_seen and not journal:
        # As good as unknown: the row only says where nothing was found.
        raise NeverSeen(record)
    return Shown(bucket, key, record, journal)


def never_seen_line(record: ObjectRecord) -> str:
    """Why a key never seen in S3 has a row at all, in one line."""
    looked = iso_utc(record.updated_at)
    why = f" after {record.event_name} at {iso_utc(record.event_time)}" if record.event_name else ""
    return (
        f"{record.uri} was never seen in S3: HeadObject found no object (last looked {looked}{why})"
    )


def list_objects(
    reader: ObjectReader, where: ObjectFilter, *, limit: int | None = None
) -> Iterator[ObjectRecord]:
    """The objects ``where`` holds, in key order, at most ``limit`` (None: all), streamed."""
    return islice(reader.iter_objects(where), limit)


def first_page(reader: ObjectReader, where: ObjectFilter, *, limit: int) -> ObjectPage:
    """The first ``limit`` objects ``where`` holds, and whether more follow."""
    return reader.page(where, limit=limit)
