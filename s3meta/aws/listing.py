"""ListObjectsV2, a page at a time (constant memory for any bucket size), for backfill and
reconcile, with botocore's errors turned into s3meta's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import Failure, classify, describe, error_code
from s3meta.domain.objects import Listed, strip_etag
from s3meta.errors import PermanentError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PAGE_SIZE = 1000  # S3's maximum per ListObjectsV2 page
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_ACCESS_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})


class NoSuchBucket(PermanentError):
    """The bucket to list does not exist."""


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
            raise _translated(exc, bucket) from exc
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


def _translated(exc: Exception, bucket: str) -> Exception:
    failure = classify(exc, _NO_BUCKET)
    if failure is Failure.NOT_FOUND:
        return NoSuchBucket(f"s3://{bucket}: no such bucket")
    if failure is Failure.TRANSIENT:
        return StorageUnavailable(f"S3 ListObjectsV2 on s3://{bucket}: {describe(exc)}")
    if isinstance(exc, ClientError) and error_code(exc) in _ACCESS_DENIED:
        return PermanentError(
            f"s3://{bucket}: access denied to ListObjectsV2 (needs s3:ListBucket)"
        )
    return PermanentError(f"S3 ListObjectsV2 on s3://{bucket}: {describe(exc)}")
