"""What the index holds, as plain values, and how to ask for a page of objects. Pure.

The write rule (``s3meta.domain.transitions``) computes the next ``ObjectRecord`` and
``JournalRecord``; ``db.reader`` returns these types, and the commands, their operations and
the renderer take them, so no database row or session reaches them. Each record has a
field per column of its table (the surrogate ``id`` aside), named as the column is: a new
column is a new field here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from s3meta.domain.provenance import FIELDS as PROVENANCE_FIELDS
from s3meta.domain.times import iso_utc

# Where a listing stands: the (bucket, key) of the last object read.
Position = tuple[str, str]
# The fields of ``ObjectRecord`` that are mappings (JSON columns), read-only in a record.
MAPPING_FIELDS = ("user_metadata", "tags", "headers")


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """What s3meta holds about one key: its ``object_metadata`` row, a field per column.

    The object's last known state (kept when it is deleted; none if never found), the last
    event's fields, whether and how it was removed, and when s3meta wrote it.
    """

    bucket: str
    object_key: str
    created_at: datetime  # when s3meta first knew of the key
    updated_at: datetime  # when s3meta last wrote the record
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    content_type: str | None = None
    last_modified: datetime | None = None
    storage_class: str | None = None
    user_metadata: Mapping[str, str] | None = None
    checksum_algorithm: str | None = None
    checksum_value: str | None = None
    server_side_encryption: str | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: str | None = None
    object_lock_retain_until: datetime | None = None
    object_lock_legal_hold: str | None = None
    restore_status: str | None = None
    parts_count: int | None = None
    tags: Mapping[str, str] | None = None  # None: never fetched; {}: fetched, none set
    content_encoding: str | None = None
    replication_status: str | None = None
    checksum_type: str | None = None
    bucket_key_enabled: bool | None = None
    # Presentation headers by HTTP name (``s3meta.domain.objects.HEADERS``); None: the row
    # was last written before s3meta recorded them (revision 0005), which is what
    # ``backfill --only-missing`` fills.
    headers: Mapping[str, str] | None = None
    sequencer: str | None = None
    event_name: str | None = None
    event_time: datetime | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    deleted_by: str | None = None  # the removal event's name, or FOUND_GONE
    # Deleted, and nothing ever showed the object existed (see Change.shows_existence).
    never_seen: bool = False
    last_task_id: str | None = None
    # Who and how of the last event applied (``s3meta.domain.provenance``); a requeue
    # keeps them, as it keeps the event's other fields.
    principal_id: str | None = None
    source_ip_address: str | None = None
    request_id: str | None = None
    host_id: str | None = None
    configuration_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.object_key}"


@dataclass(frozen=True, slots=True)
class VersionRecord(ObjectRecord):
    """One version of a key: its ``object_versions`` row, a field per column.

    The fields of the current record, for this version (``s3meta.domain.versions``);
    ``is_deleted`` says the version was removed (a DELETE naming it), and the event fields
    are those of the version's creation.
    """

    is_delete_marker: bool = False


@dataclass(frozen=True, slots=True)
class JournalRecord:
    """One entry of the journal: its ``object_journal`` row, a field per column."""

    bucket: str
    object_key: str
    record_type: str  # a RecordType: CREATE, UPDATE_METADATA, DELETE
    version_id: str | None
    etag: str | None
    size: int | None
    sequencer: str | None
    event_name: str | None
    event_time: datetime | None
    applied_at: datetime
    task_id: str | None
    # Who and how, from the change's event: None for a requeue, a backfill, or an event
    # without them (``s3meta.domain.provenance``).
    principal_id: str | None = None
    source_ip_address: str | None = None
    request_id: str | None = None
    host_id: str | None = None
    configuration_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready values: times in UTC to the microsecond (``iso_utc``), ``key`` for the
        object's key; what ``show --history --json`` and the change feed's messages hold."""
        return {
            "bucket": self.bucket,
            "key": self.object_key,
            "record_type": self.record_type,
            "version_id": self.version_id,
            "etag": self.etag,
            "size": self.size,
            "sequencer": self.sequencer,
            "event_name": self.event_name,
            "event_time": iso_utc(self.event_time),
            "applied_at": iso_utc(self.applied_at),
            "task_id": self.task_id,
            **{name: getattr(self, name) for name in PROVENANCE_FIELDS},
        }


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One row of ``task_attempts``: a run of the task and its outcome."""

    task_id: str
    bucket: str
    object_key: str
    attempt: int
    outcome: str
    error_type: str | None
    error: str | None
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class TaskResultRecord:
    """A task's result as its runner's result table keeps it: a field per column, the values
    encoded as the runner encodes them (its adapter in ``s3meta.compat`` builds the record and
    writes the row)."""

    task_id: str
    status: str
    result: bytes | None
    date_done: datetime | None
    traceback: str | None
    children: bytes | None
    name: str | None
    args: bytes | None
    kwargs: bytes | None
    worker: str | None
    retries: int | None
    queue: str | None
    stamps: bytes | None


@dataclass(frozen=True, slots=True)
class BucketRows:
    """How many rows a bucket has in ``object_metadata``."""

    bucket: str
    live: int
    deleted: int
    never_seen: int = 0  # keys HeadObject never found: not objects, so in neither count

    @property
    def total(self) -> int:
        return self.live + self.deleted


@dataclass(frozen=True, slots=True)
class Share:
    """Live objects and their bytes that have one value of a column (a storage class...)."""

    value: str | None
    objects: int
    bytes: int


@dataclass(frozen=True, slots=True)
class FailedKey:
    """A key whose last recorded attempt failed."""

    bucket: str
    key: str
    attempt_id: int
    finished_at: datetime
    error_type: str | None
    error: str | None  # the first characters only

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class ObjectFilter:
    """Which objects a listing holds, always in (bucket, key) order, S3's byte order.

    A prefix needs its bucket: only then is it one range of the (bucket, key) index.
    """

    bucket: str | None = None
    prefix: str = ""
    include_deleted: bool = True
    # Keys HeadObject never found and no event showed existed: not objects, hidden by default.
    include_never_seen: bool = False
    # Only removed objects (include_deleted must then be True).
    only_deleted: bool = False
    # Conditions on columns outside the (bucket, key) index: a listing with any of them reads
    # a bounded window of the index per page (``ObjectReader.page``'s ``scan``).
    content_type: str | None = None
    storage_class: str | None = None
    replication_status: str | None = None
    checksum_type: str | None = None
    content_encoding: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    modified_after: datetime | None = None  # last_modified at or after
    modified_before: datetime | None = None  # last_modified before
    tags: tuple[tuple[str, str], ...] = ()  # every (tag, value) set on the object
    metadata: tuple[tuple[str, str], ...] = ()  # every (user metadata key, value)

    def __post_init__(self) -> None:
        if self.prefix and self.bucket is None:
            raise ValueError("a key prefix needs a bucket")
        if self.only_deleted and not self.include_deleted:
            raise ValueError("only deleted objects, yet deleted ones excluded")

    @property
    def unindexed(self) -> bool:
        """Whether a condition is on a column the (bucket, key) index does not hold."""
        return any(
            value is not None
            for value in (
                self.content_type,
                self.storage_class,
                self.replication_status,
                self.checksum_type,
                self.content_encoding,
                self.min_size,
                self.max_size,
                self.modified_after,
                self.modified_before,
            )
        ) or bool(self.tags or self.metadata or self.only_deleted)


@dataclass(frozen=True, slots=True)
class ObjectPage:
    """One page of a listing, and where the next one starts."""

    records: Sequence[ObjectRecord]
    # The position to ask for the next page after; None when no object follows this page.
    next_after: Position | None
    # Rows of the index read for this page, when bounded by ``scan``: a page may hold fewer
    # records than asked (none, even) and still have a next one.
    scanned: int | None = None
