"""A bucket's objects, streamed page by page (ListObjectsV2) for ``s3meta reconcile``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import Failure, classify, describe, error_code
from s3meta.domain.reconcile import Listed, strip_quotes
from s3meta.errors import PermanentError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PAGE_SIZE = 1000  # S3's maximum per ListObjectsV2 page
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_ACCESS_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})


class NoSuchBucket(PermanentError):
    """The bucket to list does not exist."""


def iter_listing(
    client: S3Client, bucket: str, prefix: str = "", *, page_size: int = PAGE_SIZE
) -> Iterator[Listed]:
    """Every object of ``bucket`` under ``prefix``, in S3's key order (UTF-8 bytes).

    One page is held at a time. Keys are asked for unencoded (no ``EncodingType``), so
    they come back exactly as stored. Errors come out as s3meta's: ``NoSuchBucket``,
    ``StorageUnavailable`` (throttling, 5xx, connection) or ``PermanentError``.
    """
    token: str | None = None
    while True:
        try:
            if token:
                page = client.list_objects_v2(
                    Bucket=bucket, Prefix=prefix, MaxKeys=page_size, ContinuationToken=token
                )
            else:
                page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=page_size)
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, bucket) from exc
        for entry in page.get("Contents", []):
            yield Listed(
                key=entry["Key"],
                etag=strip_quotes(entry.get("ETag")) or "",
                size=int(entry.get("Size", 0)),
            )
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated") or not token:
            return


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
