"""ListObjectsV2, a page at a time: constant memory for any bucket size."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import Failure, classify, describe, error_code
from s3meta.domain.objects import strip_etag
from s3meta.errors import PermanentError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_NO_BUCKET = frozenset({"NoSuchBucket", "404", "NotFound"})


@dataclass(frozen=True)
class ListedObject:
    key: str
    etag: str  # without quotes, as the database keeps it
    size: int


def iter_pages(
    client: S3Client,
    bucket: str,
    prefix: str = "",
    *,
    start_after: str | None = None,
    page_size: int = 1000,
) -> Iterator[list[ListedObject]]:
    """Pages of the objects under ``prefix`` after ``start_after``, in S3's key order."""
    token: str | None = None
    while True:
        request: dict[str, object] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
        if token:
            request["ContinuationToken"] = token
        elif start_after:
            request["StartAfter"] = start_after
        try:
            response = client.list_objects_v2(**request)  # type: ignore[arg-type]
        except (ClientError, BotoCoreError) as exc:
            raise _translated(exc, bucket) from exc
        yield [
            ListedObject(item["Key"], strip_etag(item.get("ETag", "")), item.get("Size", 0))
            for item in response.get("Contents", [])
        ]
        token = response.get("NextContinuationToken")
        if not response.get("IsTruncated") or not token:
            return


def _translated(exc: Exception, bucket: str) -> Exception:
    if isinstance(exc, ClientError) and error_code(exc) in _NO_BUCKET:
        return PermanentError(f"no such bucket: {bucket}")
    message = f"could not list s3://{bucket}: {describe(exc)}"
    if classify(exc) is Failure.TRANSIENT:
        return StorageUnavailable(message)
    return PermanentError(message)
