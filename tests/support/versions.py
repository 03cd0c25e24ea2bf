"""Checks of a versioned key's records against S3."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def assert_current_row_is_headobject(stack: Stack, s3: S3Client, bucket: str, key: str) -> None:
    row = stack.reader.get(bucket, key)
    assert row is not None
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        assert row.is_deleted
        return
    assert not row.is_deleted
    assert (row.version_id, row.etag, row.size) == (
        head["VersionId"],
        head["ETag"].strip('"'),
        head["ContentLength"],
    )
