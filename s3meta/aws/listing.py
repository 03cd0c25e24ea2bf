"""ListObjectsV2 and ListObjectVersions, a page at a time (constant memory for any bucket
size), for backfill and reconcile, with botocore's errors turned into s3meta's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.s3 import NoSuchBucket, bucket_error
from s3meta.domain.objects import Listed, ListedVersion, strip_etag

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PAGE_SIZE = 1000  # S3's maximum per ListObjectsV2 page

__all__ = [
    "PAGE_SIZE",
    "NoSuchBucket",
    "count_objects",
    "is_versioned",
    "iter_listing",
    "iter_pages",
    "iter_version_pages",
]


def iter_pages(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    start_after: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[Listed]]:
    """Pages of the objects under ``prefix`` after ``start_after``, in S3's key order
    (UTF-8 bytes).

    Keys are asked for unencoded (no ``EncodingType``), so they come back exactly as
    stored. Errors come out as s3meta's: ``NoSuchBucket``, ``StorageUnavailable``
    (throttling, 5xx, connection) or ``PermanentError``.
    """
    token: str | None = None
    while True:
        request: dict[str, object] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
        if token:
            request["ContinuationToken"] = token
        elif start_after:
            request["StartAfter"] = start_after
        try:
            page = client.list_objects_v2(**request)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            where = f"S3 ListObjectsV2 on s3://{bucket}"
            raise bucket_error(exc, bucket, "ListObjectsV2", where=where) from exc
        yield [
            Listed(
                key=entry["Key"],
                etag=strip_etag(entry.get("ETag", "")),
                size=int(entry.get("Size", 0)),
            )
            for entry in page.get("Contents", [])
        ]
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


def iter_listing(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    start_after: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[Listed]:
    """``iter_pages`` one object at a time; still one page held at a time."""
    for page in iter_pages(client, bucket, prefix, start_after=start_after, page_size=page_size):
        yield from page


def count_objects(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    start_after: str | None = None,
    counted: Callable[[int], None] | None = None,
) -> int:
    """How many objects ``iter_pages`` would list, page by page; ``counted`` gets the
    running count after each page."""
    total = 0
    for page in iter_pages(client, bucket, prefix, start_after=start_after):
        total += len(page)
        if counted is not None:
            counted(total)
    return total


def iter_version_pages(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    start_after: str | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[list[ListedVersion]]:
    """Pages of every version (delete markers included) of the keys under ``prefix`` after
    the key ``start_after``, in S3's key order, each key's versions newest first.

    A key's versions may span pages. Errors come out as ``iter_pages``'s do.
    """
    markers: dict[str, str] = {"KeyMarker": start_after} if start_after else {}
    while True:
        request: dict[str, object] = {
            "Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size, **markers,
        }  # fmt: skip
        try:
            page = client.list_object_versions(**request)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            where = f"S3 ListObjectVersions on s3://{bucket}"
            raise bucket_error(exc, bucket, "ListObjectVersions", where=where) from exc
        found: list[tuple[Mapping[str, Any], bool]] = [
            (entry, False) for entry in page.get("Versions", [])
        ]
        found += [(entry, True) for entry in page.get("DeleteMarkers", [])]
        # S3 lists versions and delete markers apart: merged again in its order (by key,
        # newest first; of one LastModified, the latest first, as nothing else tells).
        found.sort(key=lambda pair: (pair[0]["LastModified"], pair[0]["IsLatest"]), reverse=True)
        found.sort(key=lambda pair: pair[0]["Key"].encode("utf-8", "surrogatepass"))
        entries = [
            ListedVersion(
                key=entry["Key"],
                version_id=entry["VersionId"],
                is_delete_marker=marker,
                last_modified=entry["LastModified"],
                etag=None if marker else strip_etag(entry.get("ETag", "")),
                size=None if marker else int(entry.get("Size", 0)),
            )
            for entry, marker in found
        ]
        yield entries
        if not page.get("IsTruncated"):
            return
        markers = {
            "KeyMarker": page.get("NextKeyMarker", ""),
            "VersionIdMarker": page.get("NextVersionIdMarker", ""),
        }


def is_versioned(client: S3Client, bucket: str) -> bool:
    """Whether ``bucket``'s versioning was ever enabled (it is on, or suspended)."""
    try:
        answer = client.get_bucket_versioning(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        where = f"S3 GetBucketVersioning on s3://{bucket}"
        raise bucket_error(exc, bucket, "GetBucketVersioning", where=where) from exc
    return bool(answer.get("Status"))
