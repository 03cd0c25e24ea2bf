"""Reading object metadata from S3, with botocore's errors turned into s3meta's."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import Failure, classify, describe, is_access_denied
from s3meta.domain.objects import ObjectState, state_from_head, tags_from_tag_set
from s3meta.errors import (
    DeleteMarkerFound,
    ObjectNotFound,
    PermanentError,
    StorageUnavailable,
    UnusableVersionId,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

log = logging.getLogger(__name__)

# HeadObject has no response body, so S3's errors carry the HTTP status as the code; a
# missing bucket is a plain 404 there too (moto names it NoSuchBucket): the object is gone.
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion", "NoSuchBucket"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})


class S3Storage:
    """The S3 operations the task needs."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def head(
        self, bucket: str, key: str, *, with_tags: bool = False, version_id: str | None = None
    ) -> ObjectState:
        """The object's current metadata (``version_id``'s, if given); raises
        ``ObjectNotFound`` if it does not exist, ``DeleteMarkerFound`` if it is a delete marker.

        ``with_tags`` adds a GetObjectTagging call for the version HeadObject saw, so that
        tags and metadata describe the same version even if a new one lands in between, but
        only when HeadObject counted tags (``x-amz-tagging-count``, sent only above zero):
        most objects have none, and asking would double the requests per object. Tags the
        worker may not read are left unknown (``tags=None``) with a warning rather than
        failing the task: the rest of the row is still worth having.
        """
        response = self._head_object(bucket, key, version_id)
        tags: dict[str, str] | None = None
        if with_tags:
            tags = (
                self._tags(bucket, key, response.get("VersionId"))
                if response.get("TagCount")
                else {}
            )
        return state_from_head(bucket, key, response, tags)

    def _head_object(
        self, bucket: str, key: str, version_id: str | None
    ) -> HeadObjectOutputTypeDef:
        version: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            return self._client.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED", **version
            )
        except ClientError as exc:
            if version_id and _status(exc) == 400:
                raise UnusableVersionId(f"s3://{bucket}/{key}: version {version_id!r}") from exc
            if not is_access_denied(exc):
                raise translate_error(exc, bucket, key) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, bucket, key) from exc
        # With ChecksumMode, S3 also wants kms:Decrypt on an SSE-KMS object that has a
        # checksum, while a plain HeadObject does not: a worker without that grant would fail
        # on every such object. Asking again without the checksum keeps the rest of the row;
        # if the plain call is denied too, that error is the real one.
        try:
            response = self._client.head_object(Bucket=bucket, Key=key, **version)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, bucket, key) from exc
        log.warning(
            "s3://%s/%s: HeadObject with ChecksumMode was denied but succeeded without it; "
            "its checksum is not recorded (the worker may lack kms:Decrypt on its key)",
            bucket,
            key,
        )
        return response

    def _tags(self, bucket: str, key: str, version_id: str | None) -> dict[str, str] | None:
        try:
            if version_id:
                response = self._client.get_object_tagging(
                    Bucket=bucket, Key=key, VersionId=version_id
                )
            else:
                response = self._client.get_object_tagging(Bucket=bucket, Key=key)
        except ClientError as exc:
            # Only a plain denial is tolerated: a 404 means the object went away after the
            # HeadObject (ObjectNotFound, as for HeadObject) and throttling is worth a retry.
            if not is_access_denied(exc):
                raise translate_error(exc, bucket, key) from exc
            log.warning(
                "s3://%s/%s: GetObjectTagging denied (%s); tags not recorded. With a version "
                "id S3 checks s3:GetObjectVersionTagging as well as s3:GetObjectTagging",
                bucket,
                key,
                describe(exc),
            )
            return None
        except BotoCoreError as exc:
            raise translate_error(exc, bucket, key) from exc
        return tags_from_tag_set(response.get("TagSet") or [])


class NoSuchBucket(PermanentError):
    """The bucket does not exist."""


def check_bucket(client: S3Client, bucket: str) -> None:
    """Raise ``PermanentError`` if ``bucket`` does not exist or may not be listed.

    HeadObject cannot tell a missing bucket from a missing key; HeadBucket can.
    """
    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        raise bucket_error(exc, bucket, "HeadBucket", where=f"s3://{bucket}") from exc


def bucket_error(exc: Exception, bucket: str, operation: str, *, where: str) -> Exception:
    """s3meta's error for a bucket-level S3 call (HeadBucket, ListObjectsV2) that failed.

    ``NoSuchBucket``, ``StorageUnavailable`` (throttling, 5xx, connection), or
    ``PermanentError``, access denied naming s3:ListBucket, which both calls need.
    ``where`` begins the messages that carry botocore's description.
    """
    failure = classify(exc, _NO_BUCKET)
    if failure is Failure.NOT_FOUND:
        return NoSuchBucket(f"s3://{bucket}: no such bucket")
    if failure is Failure.TRANSIENT:
        return StorageUnavailable(f"{where}: {describe(exc)}")
    if is_access_denied(exc):
        return PermanentError(f"s3://{bucket}: access denied to {operation} (needs s3:ListBucket)")
    return PermanentError(f"{where}: {describe(exc)}")


def translate_error(exc: Exception, bucket: str, key: str) -> Exception:
    """The project error for a botocore failure on ``s3://bucket/key``."""
    where = f"s3://{bucket}/{key}"
    marker = _delete_marker(exc)
    if marker is not None:
        return DeleteMarkerFound(f"{where} is a delete marker", marker or None)
    failure = classify(exc, _NOT_FOUND)
    if failure is Failure.NOT_FOUND:
        return ObjectNotFound(f"{where} does not exist")
    if failure is Failure.TRANSIENT:
        return StorageUnavailable(f"S3 {describe(exc)} ({where})")
    return PermanentError(f"S3 {describe(exc)} ({where})")


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _delete_marker(exc: Exception) -> str | None:
    """The version id of the delete marker HeadObject met ("" if it named none), or None.

    A HEAD of a key whose latest version is a delete marker is a 404, of a delete marker's
    own version a 405; both say ``x-amz-delete-marker: true``.
    """
    if not isinstance(exc, ClientError):
        return None
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if str(headers.get("x-amz-delete-marker", "")).lower() != "true":
        return None
    return str(headers.get("x-amz-version-id") or "")
