"""What else HeadObject (and GetObjectTagging) tells: checksums, encryption, object lock,
restore status, parts count and tags, from moto and from hand-built responses."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from moto.core import enable_iam_authentication

from s3meta.aws.s3 import S3Storage
from s3meta.config import load_settings
from s3meta.domain.objects import (
    CHECKSUM_ALGORITHMS,
    MAX_PARTS,
    ObjectState,
    parts_from_etag,
    state_from_head,
    tags_from_tag_set,
)
from s3meta.errors import ObjectNotFound, PermanentError, StorageUnavailable
from tests.unit.conftest import BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MIB = 1024 * 1024
MD5 = "5d41402abc4b2a76b9719d911017c592"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RETAIN_UNTIL = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
LOG_NAME = "s3meta.aws.s3"

DETAIL_FIELDS = (
    "checksum_algorithm",
    "checksum_value",
    "server_side_encryption",
    "sse_kms_key_id",
    "object_lock_mode",
    "object_lock_retain_until",
    "object_lock_legal_hold",
    "restore_status",
    "parts_count",
    "tags",
)


def head_response(**fields: Any) -> dict[str, Any]:
    """A minimal boto3 ``head_object`` response with ``fields`` added or replaced."""
    response: dict[str, Any] = {
        "ContentLength": 5,
        "ETag": f'"{MD5}"',
        "LastModified": datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
    }
    response.update(fields)
    return response


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def upload_in_parts(s3: S3Client, bucket: str, key: str, parts: list[bytes]) -> str:
    """A multipart upload of ``parts``; returns the ETag S3 gave the object."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done: list[CompletedPartTypeDef] = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"],
        }
        for number, body in enumerate(parts, start=1)
    ]
    completed = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
    )
    return completed["ETag"]


@contextmanager
def after_first_head(s3: S3Client, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action`` right after the client's next HeadObject: another writer's timing."""
    fired = False

    def handler(**_: Any) -> None:
        nonlocal fired
        if not fired:
            fired = True
            action()

    s3.meta.events.register("after-call.s3.HeadObject", handler)
    try:
        yield
    finally:
        s3.meta.events.unregister("after-call.s3.HeadObject", handler)
    assert fired


@contextmanager
def s3_fails(
    s3: S3Client,
    operation: str,
    status: int,
    code: str,
    when: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> Iterator[list[dict[str, Any]]]:
    """Make S3 answer ``operation`` with an error when ``when(request)``; yields the requests.

    For failures moto cannot produce: botocore parses and raises them as it would S3's own.
    """
    with sent(s3, operation) as requests:
        # Returns (http, parsed) to stand in for S3's answer; botocore's stubs say hooks
        # return None, hence Any.
        def handler(params: dict[str, Any], **_: Any) -> Any:
            if not when(params):
                return None
            http = AWSResponse("https://s3.amazonaws.com/", status, HTTPHeaders(), None)
            parsed = {
                "Error": {"Code": code, "Message": f"injected {code}"},
                "ResponseMetadata": {"HTTPStatusCode": status},
            }
            return http, parsed

        event = f"before-call.s3.{operation}"
        s3.meta.events.register(event, handler)
        try:
            yield requests
        finally:
            s3.meta.events.unregister(event, handler)


@contextmanager
def sent(s3: S3Client, operation: str) -> Iterator[list[dict[str, Any]]]:
    """The requests for ``operation`` the client sends meanwhile, as botocore built them."""
    requests: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    event = f"before-call.s3.{operation}"
    s3.meta.events.register_first(event, record)
    try:
        yield requests
    finally:
        s3.meta.events.unregister(event, record)


def asks_for_checksum(request: dict[str, Any]) -> bool:
    return bool(request["headers"].get("x-amz-checksum-mode") == "ENABLED")


# Checksums ---------------------------------------------------------------------------------


def test_a_sha256_checksum_is_read_with_checksum_mode(s3: S3Client) -> None:
    body = b"hello checksums"
    s3.put_object(Bucket=BUCKET, Key="k", Body=body, ChecksumAlgorithm="SHA256")

    state = S3Storage(s3).head(BUCKET, "k")

    # Without ChecksumMode=ENABLED S3 (and moto) leave the checksum out entirely.
    assert state.checksum_algorithm == "SHA256"
    assert state.checksum_value == b64(hashlib.sha256(body).digest())


def test_a_crc32_checksum_is_read_with_checksum_mode(s3: S3Client) -> None:
    body = b"hello checksums"
    s3.put_object(Bucket=BUCKET, Key="k", Body=body, ChecksumAlgorithm="CRC32")

    state = S3Storage(s3).head(BUCKET, "k")

    assert state.checksum_algorithm == "CRC32"
    assert state.checksum_value == b64(zlib.crc32(body).to_bytes(4, "big"))


def test_head_asks_for_the_checksum(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")

    with sent(s3, "HeadObject") as requests:
        S3Storage(s3).head(BUCKET, "k")

    assert [asks_for_checksum(request) for request in requests] == [True]


def test_a_checksum_denied_for_want_of_kms_decrypt_falls_back_to_a_plain_head(
    s3: S3Client, caplog: pytest.LogCaptureFixture
) -> None:
    s3.put_object(
        Bucket=BUCKET,
        Key="k",
        Body=b"secret",
        ChecksumAlgorithm="SHA256",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=KMS_KEY,
    )

    with (
        caplog.at_level(logging.WARNING, logger=LOG_NAME),
        s3_fails(s3, "HeadObject", 403, "403", when=asks_for_checksum) as requests,
    ):
        state = S3Storage(s3).head(BUCKET, "k")

    assert [asks_for_checksum(request) for request in requests] == [True, False]
    assert (state.checksum_algorithm, state.checksum_value) == (None, None)
    assert state.server_side_encryption == "aws:kms"
    assert state.sse_kms_key_id == KMS_KEY
    assert "s3://bucket-a/k" in caplog.text
    assert "kms:Decrypt" in caplog.text


def test_a_head_denied_with_and_without_checksum_is_a_permanent_error(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")

    with s3_fails(s3, "HeadObject", 403, "403") as requests, pytest.raises(PermanentError):
        S3Storage(s3).head(BUCKET, "k")

    assert len(requests) == 2


def test_a_missing_object_is_not_asked_for_twice(s3: S3Client) -> None:
    with sent(s3, "HeadObject") as requests, pytest.raises(ObjectNotFound):
        S3Storage(s3).head(BUCKET, "missing")

    assert len(requests) == 1


def test_a_throttled_head_is_not_retried_without_checksum(s3: S3Client) -> None:
    with (
        s3_fails(s3, "HeadObject", 503, "503") as requests,
        pytest.raises(StorageUnavailable),
    ):
        S3Storage(s3).head(BUCKET, "k")

    assert len(requests) == 1


# Encryption, object lock, restore ------------------------------------------------------------


def test_sse_s3_encryption_is_reported(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="AES256")

    state = S3Storage(s3).head(BUCKET, "k")

    assert state.server_side_encryption == "AES256"
    assert state.sse_kms_key_id is None


def test_sse_kms_encryption_and_its_key_are_reported(s3: S3Client) -> None:
    s3.put_object(
        Bucket=BUCKET, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=KMS_KEY
    )

    state = S3Storage(s3).head(BUCKET, "k")

    assert state.server_side_encryption == "aws:kms"
    assert state.sse_kms_key_id == KMS_KEY


@pytest.mark.parametrize("mode", ["GOVERNANCE", "COMPLIANCE"])
def test_object_lock_retention_and_legal_hold_are_reported(s3: S3Client, mode: str) -> None:
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    put = s3.put_object(
        Bucket="locked",
        Key="k",
        Body=b"x",
        ObjectLockMode=mode,  # type: ignore[arg-type]
        ObjectLockRetainUntilDate=RETAIN_UNTIL,
        ObjectLockLegalHoldStatus="ON",
    )

    state = S3Storage(s3).head("locked", "k")

    assert state.object_lock_mode == mode
    assert state.object_lock_retain_until == RETAIN_UNTIL
    assert state.object_lock_retain_until is not None
    assert state.object_lock_retain_until.tzinfo is UTC
    assert state.object_lock_legal_hold == "ON"
    assert state.version_id == put["VersionId"]  # object lock implies versioning


def test_a_legal_hold_alone_and_its_release_are_reported(s3: S3Client) -> None:
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket="locked", Key="k", Body=b"x")
    storage = S3Storage(s3)

    unlocked = storage.head("locked", "k")
    s3.put_object_legal_hold(Bucket="locked", Key="k", LegalHold={"Status": "ON"})
    held = storage.head("locked", "k")
    s3.put_object_legal_hold(Bucket="locked", Key="k", LegalHold={"Status": "OFF"})
    released = storage.head("locked", "k")

    assert (unlocked.object_lock_mode, unlocked.object_lock_legal_hold) == (None, None)
    assert unlocked.object_lock_retain_until is None
    assert (held.object_lock_mode, held.object_lock_legal_hold) == (None, "ON")
    assert released.object_lock_legal_hold == "OFF"


def test_the_restore_status_of_an_archived_object_is_reported(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", StorageClass="GLACIER")
    storage = S3Storage(s3)

    before = storage.head(BUCKET, "k")
    s3.restore_object(Bucket=BUCKET, Key="k", RestoreRequest={"Days": 1})
    after = storage.head(BUCKET, "k")

    assert before.restore_status is None
    assert after.restore_status is not None
    assert after.restore_status.startswith('ongoing-request="false", expiry-date="')
    assert after.storage_class == "GLACIER"


# Parts -------------------------------------------------------------------------------------


def test_a_two_part_upload_has_two_parts(s3: S3Client) -> None:
    parts = [b"a" * (5 * MIB), b"b" * 100]  # every part but the last is at least 5 MiB
    etag = upload_in_parts(s3, BUCKET, "big", parts)

    state = S3Storage(s3).head(BUCKET, "big")

    assert state.parts_count == 2
    assert state.etag == etag.strip('"')
    assert state.etag.endswith("-2")
    assert state.size == 5 * MIB + 100


def test_a_single_part_upload_through_the_multipart_api_has_one_part(s3: S3Client) -> None:
    upload_in_parts(s3, BUCKET, "one", [b"small"])

    assert S3Storage(s3).head(BUCKET, "one").parts_count == 1


def test_a_plain_put_has_no_parts_count(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x" * 100)

    assert S3Storage(s3).head(BUCKET, "k").parts_count is None


# Tags --------------------------------------------------------------------------------------


def test_tags_are_fetched_only_when_asked(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1&b=2")
    storage = S3Storage(s3)

    assert storage.head(BUCKET, "k", with_tags=True).tags == {"a": "1", "b": "2"}
    assert storage.head(BUCKET, "k", with_tags=False).tags is None
    assert storage.head(BUCKET, "k").tags is None


def test_an_untagged_object_has_empty_tags_when_asked(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")

    assert S3Storage(s3).head(BUCKET, "k", with_tags=True).tags == {}


def test_an_object_without_tags_costs_no_tagging_request(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")

    with sent(s3, "GetObjectTagging") as requests:
        state = S3Storage(s3).head(BUCKET, "k", with_tags=True)

    assert state.tags == {}
    assert requests == []


def test_tags_removed_since_the_upload_are_seen_as_empty(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")
    s3.delete_object_tagging(Bucket=BUCKET, Key="k")

    assert S3Storage(s3).head(BUCKET, "k", with_tags=True).tags == {}


def test_url_encoded_tags_arrive_decoded(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="team=data%20eng&ref=a%3Db%2Fc")

    tags = S3Storage(s3).head(BUCKET, "k", with_tags=True).tags

    assert tags == {"team": "data eng", "ref": "a=b/c"}


def test_tags_changed_later_are_seen_by_the_next_head(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")
    s3.put_object_tagging(
        Bucket=BUCKET, Key="k", Tagging={"TagSet": [{"Key": "state", "Value": "reviewed"}]}
    )

    assert S3Storage(s3).head(BUCKET, "k", with_tags=True).tags == {"state": "reviewed"}


def test_tags_belong_to_the_version_head_saw_even_if_a_new_one_lands(s3: S3Client) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="k", Body=b"first", Tagging="gen=1")
    other_writer = boto3.client("s3", region_name="us-east-1")

    def overwrite() -> None:
        other_writer.put_object(Bucket=BUCKET, Key="k", Body=b"second", Tagging="gen=2")

    with after_first_head(s3, overwrite):
        state = S3Storage(s3).head(BUCKET, "k", with_tags=True)

    assert state.version_id == first["VersionId"]
    assert state.size == len(b"first")
    assert state.tags == {"gen": "1"}


def test_a_delete_marker_after_the_head_still_gives_that_versions_tags(s3: S3Client) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")
    other_writer = boto3.client("s3", region_name="us-east-1")

    with after_first_head(s3, lambda: other_writer.delete_object(Bucket=BUCKET, Key="k")):
        state = S3Storage(s3).head(BUCKET, "k", with_tags=True)

    # The delete's own event will mark the row deleted; this state is still what was there.
    assert state.tags == {"a": "1"}


def test_an_object_deleted_between_head_and_tagging_is_not_found(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")
    other_writer = boto3.client("s3", region_name="us-east-1")

    with (
        after_first_head(s3, lambda: other_writer.delete_object(Bucket=BUCKET, Key="k")),
        pytest.raises(ObjectNotFound, match="s3://bucket-a/k"),
    ):
        S3Storage(s3).head(BUCKET, "k", with_tags=True)


def test_tags_the_worker_may_not_read_are_unknown_and_logged(
    s3: S3Client, caplog: pytest.LogCaptureFixture
) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1", ChecksumAlgorithm="SHA256")
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="worker")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="worker", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="worker")["AccessKey"]
    worker = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )

    with enable_iam_authentication(), caplog.at_level(logging.WARNING, logger=LOG_NAME):
        state = S3Storage(worker).head(BUCKET, "k", with_tags=True)
        # The policy really is enforced: the worker may head but not read tags.
        with pytest.raises(ClientError, match="AccessDenied"):
            worker.get_object_tagging(Bucket=BUCKET, Key="k")

    assert state.tags is None
    assert state.size == 1
    assert state.checksum_algorithm == "SHA256"
    assert "GetObjectTagging denied" in caplog.text
    assert "s3://bucket-a/k" in caplog.text


def test_throttled_tagging_is_transient(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")

    with (
        s3_fails(s3, "GetObjectTagging", 503, "SlowDown"),
        pytest.raises(StorageUnavailable, match="SlowDown"),
    ):
        S3Storage(s3).head(BUCKET, "k", with_tags=True)


def test_other_tagging_failures_are_permanent(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")

    with (
        s3_fails(s3, "GetObjectTagging", 400, "InvalidRequest"),
        pytest.raises(PermanentError, match="InvalidRequest"),
    ):
        S3Storage(s3).head(BUCKET, "k", with_tags=True)


def test_tagging_is_asked_for_the_version_head_returned(s3: S3Client) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=BUCKET, Key="k", Body=b"x", Tagging="a=1")

    with sent(s3, "GetObjectTagging") as requests:
        S3Storage(s3).head(BUCKET, "k", with_tags=True)

    assert [request["query_string"].get("versionId") for request in requests] == [put["VersionId"]]


# parts_from_etag ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "parts"),
    [
        (f'"{MD5}-2"', 2),
        (f"{MD5}-2", 2),
        (f"{MD5}-1", 1),
        (f"{MD5.upper()}-7", 7),
        (f"{MD5}-{MAX_PARTS}", MAX_PARTS),
        (f"{MD5}-{MAX_PARTS + 1}", None),  # beyond S3's limit: not S3's multipart ETag
        (f"{MD5}-0", None),
        (f"{MD5}-02", None),
        (f"{MD5}-", None),
        (f"{MD5}--2", None),
        (f"{MD5}-2x", None),
        (MD5, None),
        (f'"{MD5}"', None),
        ("abc123-4", None),  # not an MD5
        (f'W/"{MD5}-2"', None),
        ("", None),
        (None, None),
    ],
)
def test_parts_from_etag(etag: str | None, parts: int | None) -> None:
    assert parts_from_etag(etag) == parts


# state_from_head on hand-built responses -----------------------------------------------------


def test_without_any_detail_every_detail_is_none() -> None:
    state = state_from_head(BUCKET, "k", head_response())

    assert {name: getattr(state, name) for name in DETAIL_FIELDS} == dict.fromkeys(DETAIL_FIELDS)
    assert state == ObjectState(
        bucket=BUCKET,
        key="k",
        size=5,
        etag=MD5,
        last_modified=datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize("algorithm", CHECKSUM_ALGORITHMS)
def test_each_checksum_algorithm_is_named_without_the_prefix(algorithm: str) -> None:
    state = state_from_head(BUCKET, "k", head_response(**{f"Checksum{algorithm}": "AAAA=="}))

    assert (state.checksum_algorithm, state.checksum_value) == (algorithm, "AAAA==")


def test_every_checksum_head_object_can_return_is_known() -> None:
    model = botocore.session.get_session().get_service_model("s3")
    members = model.operation_model("HeadObject").output_shape.members  # type: ignore[union-attr]
    returned = {
        name.removeprefix("Checksum")
        for name in members
        if name.startswith("Checksum") and name != "ChecksumType"
    }

    assert returned <= set(CHECKSUM_ALGORITHMS)


def test_a_composite_multipart_checksum_is_kept_as_given() -> None:
    state = state_from_head(
        BUCKET,
        "k",
        head_response(ChecksumCRC32C="abc==-3", ChecksumType="COMPOSITE", ETag=f'"{MD5}-3"'),
    )

    assert (state.checksum_algorithm, state.checksum_value) == ("CRC32C", "abc==-3")
    assert state.parts_count == 3


def test_an_empty_checksum_is_no_checksum() -> None:
    state = state_from_head(BUCKET, "k", head_response(ChecksumSHA256="", ChecksumCRC32=None))

    assert (state.checksum_algorithm, state.checksum_value) == (None, None)


def test_the_checksum_type_alone_is_no_checksum() -> None:
    state = state_from_head(BUCKET, "k", head_response(ChecksumType="FULL_OBJECT"))

    assert (state.checksum_algorithm, state.checksum_value) == (None, None)


def test_encryption_lock_and_restore_are_mapped_as_given() -> None:
    restore = 'ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'
    state = state_from_head(
        BUCKET,
        "k",
        head_response(
            ServerSideEncryption="aws:kms:dsse",
            SSEKMSKeyId=KMS_KEY,
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=RETAIN_UNTIL,
            ObjectLockLegalHoldStatus="OFF",
            Restore=restore,
        ),
    )

    assert state.server_side_encryption == "aws:kms:dsse"
    assert state.sse_kms_key_id == KMS_KEY
    assert state.object_lock_mode == "COMPLIANCE"
    assert state.object_lock_retain_until == RETAIN_UNTIL
    assert state.object_lock_legal_hold == "OFF"
    assert state.restore_status == restore


def test_a_restore_in_progress_is_kept() -> None:
    state = state_from_head(BUCKET, "k", head_response(Restore='ongoing-request="true"'))

    assert state.restore_status == 'ongoing-request="true"'


@pytest.mark.parametrize(
    "name",
    [
        "ServerSideEncryption",
        "SSEKMSKeyId",
        "ObjectLockMode",
        "ObjectLockLegalHoldStatus",
        "Restore",
    ],
)
@pytest.mark.parametrize("empty", ["", None])
def test_an_empty_text_detail_is_none(name: str, empty: str | None) -> None:
    state = state_from_head(BUCKET, "k", head_response(**{name: empty}))

    assert state == state_from_head(BUCKET, "k", head_response())


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2031, 1, 2, 3, 4, 5),  # naive means UTC already
        datetime(2031, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
        "2031-01-02T03:04:05Z",
    ],
)
def test_the_retain_until_date_becomes_aware_utc(moment: datetime | str) -> None:
    state = state_from_head(BUCKET, "k", head_response(ObjectLockRetainUntilDate=moment))

    assert state.object_lock_retain_until == RETAIN_UNTIL
    assert state.object_lock_retain_until is not None
    assert state.object_lock_retain_until.tzinfo is UTC


def test_a_parts_count_from_s3_wins_over_the_etag() -> None:
    state = state_from_head(BUCKET, "k", head_response(PartsCount="5", ETag=f'"{MD5}-4"'))

    assert state.parts_count == 5


def test_without_a_parts_count_the_multipart_etag_gives_it() -> None:
    assert state_from_head(BUCKET, "k", head_response(ETag=f'"{MD5}-12"')).parts_count == 12


def test_a_single_part_etag_gives_no_parts_count() -> None:
    assert state_from_head(BUCKET, "k", head_response()).parts_count is None


def test_tags_passed_in_are_copied() -> None:
    tags = {"a": "1"}

    state = state_from_head(BUCKET, "k", head_response(), tags)
    tags["a"] = "changed"

    assert state.tags == {"a": "1"}


def test_tags_not_fetched_and_no_tags_differ() -> None:
    assert state_from_head(BUCKET, "k", head_response()).tags is None
    assert state_from_head(BUCKET, "k", head_response(), None).tags is None
    assert state_from_head(BUCKET, "k", head_response(), {}).tags == {}


@pytest.mark.parametrize(
    ("tag_set", "tags"),
    [
        ([], {}),
        ([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}], {"a": "1", "b": ""}),
        ([{"Key": "Name", "Value": "x y/z=+-.:@"}], {"Name": "x y/z=+-.:@"}),
    ],
)
def test_a_tag_set_becomes_a_mapping(tag_set: list[dict[str, str]], tags: dict[str, str]) -> None:
    assert tags_from_tag_set(tag_set) == tags


# The setting -------------------------------------------------------------------------------


@pytest.mark.usefixtures("isolated_environment")
def test_tags_are_fetched_by_default() -> None:
    assert load_settings().fetch_tags is True


@pytest.mark.usefixtures("isolated_environment")
@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("false", False)])
def test_s3meta_fetch_tags_sets_fetch_tags(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("S3META_FETCH_TAGS", value)

    assert load_settings().fetch_tags is expected


# Every header and status, as HeadObject's documentation shows them (a hand-built response).
FULL_HEAD: dict[str, Any] = {
    "ContentLength": 5 * MIB,
    "ETag": '"' + MD5 + '-3"',
    "LastModified": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    "ContentType": "application/json",
    "CacheControl": "max-age=3600, public",
    "ContentDisposition": 'attachment; filename="report.json"',
    "ContentEncoding": "gzip",
    "ContentLanguage": "en-GB",
    "Expires": datetime(2027, 1, 1, tzinfo=UTC),
    "ExpiresString": "Fri, 01 Jan 2027 00:00:00 GMT",
    "WebsiteRedirectLocation": "/reports/latest.json",
    "ReplicationStatus": "FAILED",
    "ChecksumCRC32": "AAAAAA==-3",
    "ChecksumType": "COMPOSITE",
    "ServerSideEncryption": "aws:kms",
    "SSEKMSKeyId": KMS_KEY,
    "BucketKeyEnabled": True,
}


def test_every_header_and_status_headobject_gives_is_kept() -> None:
    found = state_from_head(BUCKET, "r.json", FULL_HEAD)

    assert (found.content_encoding, found.replication_status) == ("gzip", "FAILED")
    assert (found.checksum_type, found.bucket_key_enabled) == ("COMPOSITE", True)
    assert found.parts_count == 3  # multipart, from the ETag's "-3"
    assert found.headers == {
        "Cache-Control": "max-age=3600, public",
        "Content-Disposition": 'attachment; filename="report.json"',
        "Content-Language": "en-GB",
        "Expires": "Fri, 01 Jan 2027 00:00:00 GMT",
        "x-amz-website-redirect-location": "/reports/latest.json",
    }


def test_an_expires_that_is_no_date_is_kept_as_s3_sent_it() -> None:
    response = {**FULL_HEAD, "ExpiresString": "never"}
    del response["Expires"]
    assert state_from_head(BUCKET, "r.json", response).headers["Expires"] == "never"


def test_a_parsed_expires_without_its_string_is_written_back_as_an_http_date() -> None:
    response = {**FULL_HEAD}
    del response["ExpiresString"]
    assert state_from_head(BUCKET, "r.json", response).headers["Expires"] == (
        "Fri, 01 Jan 2027 00:00:00 GMT"
    )


def test_an_object_with_no_headers_set_has_none_and_says_nothing_of_a_bucket_key() -> None:
    found = state_from_head(
        BUCKET,
        "k",
        {"ContentLength": 1, "ETag": f'"{MD5}"', "LastModified": FULL_HEAD["LastModified"]},
    )
    assert found.headers == {}
    assert (found.bucket_key_enabled, found.parts_count, found.checksum_type) == (None, None, None)


def test_moto_reports_the_headers_set_at_upload(s3: S3Client) -> None:
    s3.put_object(
        Bucket=BUCKET,
        Key="page.html",
        Body=b"<p>hi</p>",
        CacheControl="no-cache",
        ContentEncoding="identity",
        ContentLanguage="fr",
        ContentDisposition="inline",
    )
    found = S3Storage(s3).head(BUCKET, "page.html")
    assert found.content_encoding == "identity"
    assert found.headers["Cache-Control"] == "no-cache"
    assert found.headers["Content-Language"] == "fr"
    assert found.headers["Content-Disposition"] == "inline"
