"""What s3meta knows about one object, and how a HeadObject response maps onto it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import format_datetime
from typing import Any

# S3 leaves StorageClass out of HeadObject for the default class.
DEFAULT_STORAGE_CLASS = "STANDARD"
MAX_KEY_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ObjectState:
    """The current state of one S3 object, as HeadObject reports it."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    version_id: str | None = None
    storage_class: str = DEFAULT_STORAGE_CLASS
    user_metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None  # CRC32, CRC32C, CRC64NVME, SHA1 or SHA256
    checksum_value: str | None = None  # base64, as S3 reports it
    server_side_encryption: str | None = None  # AES256, aws:kms, aws:kms:dsse
    sse_kms_key_id: str | None = None
    object_lock_mode: str | None = None  # GOVERNANCE or COMPLIANCE
    object_lock_retain_until: datetime | None = None
    object_lock_legal_hold: str | None = None  # ON or OFF
    restore_status: str | None = None  # S3's x-amz-restore header, e.g. ongoing-request="false"
    parts_count: int | None = None  # multipart uploads only
    tags: dict[str, str] | None = None  # None: not fetched; {} fetched, none set
    content_encoding: str | None = None  # gzip, br...: what a reader must undo
    replication_status: str | None = None  # PENDING, COMPLETED, FAILED or REPLICA
    checksum_type: str | None = None  # FULL_OBJECT or COMPOSITE (of a multipart upload's parts)
    bucket_key_enabled: bool | None = None  # SSE-KMS through an S3 Bucket Key; None: not said
    # The presentation headers S3 keeps for the object, by HTTP name (``HEADERS``); few
    # objects set any.
    headers: dict[str, str] = field(default_factory=dict)


# The values S3 gives for x-amz-replication-status and x-amz-checksum-type.
REPLICATION_STATUSES = ("PENDING", "COMPLETED", "COMPLETE", "FAILED", "REPLICA")
CHECKSUM_TYPES = ("FULL_OBJECT", "COMPOSITE")

# HeadObject's presentation headers: boto3's name and the HTTP name the record keeps.
HEADERS = (
    ("CacheControl", "Cache-Control"),
    ("ContentDisposition", "Content-Disposition"),
    ("ContentLanguage", "Content-Language"),
    ("Expires", "Expires"),
    ("WebsiteRedirectLocation", "x-amz-website-redirect-location"),
)


@dataclass(frozen=True, slots=True)
class Listed:
    """One object of a bucket listing (ListObjectsV2)."""

    key: str
    etag: str  # without quotes, as the rows keep it
    size: int


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What the S3 event that caused a task carried; empty for a manual requeue."""

    event_name: str | None = None
    event_time: datetime | None = None
    sequencer: str | None = None
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    # Who and how (``s3meta.domain.provenance``): None for a requeue or a backfill.
    principal_id: str | None = None
    source_ip_address: str | None = None
    request_id: str | None = None
    host_id: str | None = None
    configuration_id: str | None = None


def state_from_head(
    bucket: str,
    key: str,
    response: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
) -> ObjectState:
    """Map a boto3 ``head_object`` response onto an ``ObjectState``.

    ``tags`` come from a separate GetObjectTagging call; ``None`` means they were not fetched.
    """
    etag = strip_etag(response["ETag"])
    checksum_algorithm, checksum_value = checksum_from_head(response)
    retain_until = response.get("ObjectLockRetainUntilDate")
    parts_count = response.get("PartsCount")
    return ObjectState(
        bucket=bucket,
        key=key,
        size=int(response["ContentLength"]),
        etag=etag,
        last_modified=to_utc(response["LastModified"]),
        content_type=response.get("ContentType"),
        version_id=response.get("VersionId"),
        storage_class=response.get("StorageClass") or DEFAULT_STORAGE_CLASS,
        user_metadata={
            name.lower(): decode_metadata_value(value)
            for name, value in (response.get("Metadata") or {}).items()
        },
        checksum_algorithm=checksum_algorithm,
        checksum_value=checksum_value,
        server_side_encryption=_text(response, "ServerSideEncryption"),
        sse_kms_key_id=_text(response, "SSEKMSKeyId"),
        object_lock_mode=_text(response, "ObjectLockMode"),
        object_lock_retain_until=parse_timestamp(retain_until) if retain_until else None,
        object_lock_legal_hold=_text(response, "ObjectLockLegalHoldStatus"),
        restore_status=_text(response, "Restore"),
        # S3 sends PartsCount only when the request names a PartNumber, which would also
        # narrow ContentLength and ETag to that part; the whole-object ETag of a multipart
        # upload carries the count instead, so that is the usual source.
        parts_count=int(parts_count) if parts_count is not None else parts_from_etag(etag),
        tags=dict(tags) if tags is not None else None,
        content_encoding=_text(response, "ContentEncoding"),
        replication_status=_text(response, "ReplicationStatus"),
        checksum_type=_text(response, "ChecksumType"),
        bucket_key_enabled=_flag(response, "BucketKeyEnabled"),
        headers=headers_from_head(response),
    )


def headers_from_head(response: Mapping[str, Any]) -> dict[str, str]:
    """The presentation headers set on the object, by HTTP name, as S3 sent them.

    boto3 parses Expires into a datetime, and gives the header itself as ``ExpiresString``
    (an Expires that is no date only so): the header is kept, so a bad date is not lost.
    """
    found: dict[str, str] = {}
    for name, header in HEADERS:
        value = response.get("ExpiresString") if name == "Expires" else None
        value = value or response.get(name)
        if isinstance(value, datetime):
            value = format_datetime(to_utc(value), usegmt=True)
        if value:
            found[header] = str(value)
    return found


# The algorithms HeadObject can report a checksum for (botocore's ChecksumAlgorithm enum);
# S3 keeps one checksum per object, so at most one is present. The order only makes the
# choice deterministic should a response ever carry two.
CHECKSUM_ALGORITHMS = (
    "CRC32",
    "CRC32C",
    "CRC64NVME",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
    "XXHASH64",
    "XXHASH3",
    "XXHASH128",
)

# S3's multipart ETag: the MD5 of the parts' MD5s, a dash, the number of parts (1-10,000).
_MULTIPART_ETAG = re.compile(r"[0-9a-fA-F]{32}-([1-9][0-9]{0,4})")
MAX_PARTS = 10_000


def checksum_from_head(response: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The object's checksum as (algorithm, base64 value), or (None, None).

    HeadObject only reports it when called with ``ChecksumMode="ENABLED"``. A multipart
    upload's composite checksum ends in ``-<parts>``; it is kept exactly as S3 sent it, since
    it can only be compared with another composite checksum of the same part layout anyway.
    """
    for algorithm in CHECKSUM_ALGORITHMS:
        value = response.get(f"Checksum{algorithm}")
        if value:
            return algorithm, str(value)
    return None, None


def parts_from_etag(etag: str | None) -> int | None:
    """The part count of a multipart upload from its ETag (``"<md5>-3"`` → 3), else ``None``.

    Only S3's own multipart form counts: anything else (a single-part MD5, an SSE-C or
    SSE-KMS ETag, a weak or foreign ETag) yields ``None`` rather than a guess.
    """
    if not etag:
        return None
    match = _MULTIPART_ETAG.fullmatch(strip_etag(etag))
    if match is None:
        return None
    parts = int(match.group(1))
    return parts if parts <= MAX_PARTS else None


def tags_from_tag_set(tag_set: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """GetObjectTagging's ``TagSet`` (a list of Key/Value pairs) as a mapping."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in tag_set}


def decode_metadata_value(value: str) -> str:
    """Decode an RFC 2047 encoded word, which is how S3 returns non-ASCII metadata."""
    if "=?" not in value:
        return value
    try:
        decoded = str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeDecodeError):
        return value
    # The email package turns undecodable base64 into nothing; keep what S3 sent instead.
    return decoded or value


def strip_etag(etag: str) -> str:
    """S3 sends ETags in double quotes; store them bare."""
    return etag.strip('"')


def to_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive means UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamp(value: str | datetime) -> datetime:
    """Parse an ISO 8601 timestamp such as S3's ``2026-11-20T10:15:30.123Z`` into UTC."""
    if isinstance(value, datetime):
        return to_utc(value)
    return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _flag(response: Mapping[str, Any], name: str) -> bool | None:
    value = response.get(name)
    return None if value is None else bool(value)


def _text(response: Mapping[str, Any], name: str) -> str | None:
    # An empty header says nothing either, and storing "" would make "not set" two values.
    value = response.get(name)
    return str(value) if value else None


@dataclass(frozen=True, slots=True)
class ListedVersion:
    """One version of a key in ListObjectVersions: an object version or a delete marker."""

    key: str
    version_id: str
    is_delete_marker: bool
    last_modified: datetime
    etag: str | None = None  # without quotes; None for a delete marker
    size: int | None = None  # None for a delete marker
    # The time its task gives the version's creation (``s3meta.domain.versions.in_listed_order``).
    event_time: datetime | None = None
