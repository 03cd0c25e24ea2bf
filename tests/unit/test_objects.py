"""``s3meta.domain.objects``: HeadObject responses and task kwargs mapped onto the domain."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from s3meta.domain.objects import (
    DEFAULT_STORAGE_CLASS,
    ObjectState,
    state_from_head,
)
from tests.unit.conftest import BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def head_response(**fields: Any) -> dict[str, Any]:
    """A minimal boto3 ``head_object`` response with ``fields`` added or replaced."""
    response: dict[str, Any] = {
        "ContentLength": 5,
        "ETag": '"5d41402abc4b2a76b9719d911017c592"',
        "LastModified": datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
    }
    response.update(fields)
    return response


def encoded_word(text: str, encoding: str) -> str:
    """``text`` as one RFC 2047 encoded word, the way S3 returns non-ASCII metadata."""
    data = text.encode("utf-8")
    if encoding == "B":
        return f"=?UTF-8?B?{base64.b64encode(data).decode('ascii')}?="
    quoted = "".join(chr(byte) if chr(byte).isalnum() else f"={byte:02X}" for byte in data)
    return f"=?UTF-8?Q?{quoted}?="


# state_from_head on real moto responses ----------------------------------------------------


@pytest.mark.parametrize("storage_class", ["STANDARD_IA", "GLACIER"])
def test_a_head_response_from_s3_maps_onto_every_field(s3: S3Client, storage_class: str) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    body = b"hello world"
    before = datetime.now(UTC).replace(microsecond=0)
    put = s3.put_object(
        Bucket=BUCKET,
        Key="dir/a b+c.txt",
        Body=body,
        ContentType="text/plain; charset=utf-8",
        Metadata={"Owner": "Alice", "Project-Name": "apollo"},
        StorageClass=storage_class,  # type: ignore[arg-type]
    )
    after = datetime.now(UTC)
    response = s3.head_object(Bucket=BUCKET, Key="dir/a b+c.txt")

    state = state_from_head(BUCKET, "dir/a b+c.txt", response)

    assert state.bucket == BUCKET
    assert state.key == "dir/a b+c.txt"
    assert state.size == len(body)
    assert state.etag == hashlib.md5(body).hexdigest()  # S3's ETag is the MD5 of the body
    assert state.etag == put["ETag"].strip('"')
    assert '"' not in state.etag
    assert state.last_modified.tzinfo is UTC
    assert before <= state.last_modified <= after
    assert state.content_type == "text/plain; charset=utf-8"
    assert state.version_id == put["VersionId"]
    assert state.version_id
    assert state.storage_class == storage_class
    assert state.user_metadata == {"owner": "Alice", "project-name": "apollo"}


def test_an_object_of_the_default_class_on_an_unversioned_bucket(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key="plain", Body=b"")
    response = s3.head_object(Bucket=BUCKET, Key="plain")

    state = state_from_head(BUCKET, "plain", response)

    assert state.storage_class == "STANDARD"
    assert state.version_id is None
    assert state.size == 0
    assert state.user_metadata == {}


def test_encoded_metadata_from_s3_is_decoded(s3: S3Client) -> None:
    s3.put_object(
        Bucket=BUCKET,
        Key="k",
        Body=b"x",
        Metadata={"title": encoded_word("café 日本", "B")},
    )

    state = state_from_head(BUCKET, "k", s3.head_object(Bucket=BUCKET, Key="k"))

    assert state.user_metadata == {"title": "café 日本"}


# state_from_head on hand-built responses ---------------------------------------------------


def test_a_missing_storage_class_means_standard() -> None:
    state = state_from_head(BUCKET, "k", head_response())

    assert state.storage_class == "STANDARD" == DEFAULT_STORAGE_CLASS


def test_an_empty_storage_class_means_standard() -> None:
    state = state_from_head(BUCKET, "k", head_response(StorageClass=""))

    assert state.storage_class == "STANDARD"


def test_missing_optional_fields_are_none_or_empty() -> None:
    state = state_from_head(BUCKET, "k", head_response())

    assert state == ObjectState(
        bucket=BUCKET,
        key="k",
        size=5,
        etag="5d41402abc4b2a76b9719d911017c592",
        last_modified=datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
    )
    assert state.content_type is None
    assert state.version_id is None
    assert state.user_metadata == {}


def test_a_none_metadata_is_an_empty_mapping() -> None:
    assert state_from_head(BUCKET, "k", head_response(Metadata=None)).user_metadata == {}


def test_a_naive_last_modified_is_treated_as_utc() -> None:
    naive = datetime(2026, 11, 20, 10, 15, 30, 123000)

    state = state_from_head(BUCKET, "k", head_response(LastModified=naive))

    assert state.last_modified == datetime(2026, 11, 20, 10, 15, 30, 123000, tzinfo=UTC)
    assert state.last_modified.utcoffset() == timedelta(0)


def test_a_last_modified_in_another_zone_is_converted_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 20, 11, 15, 30, tzinfo=paris)

    state = state_from_head(BUCKET, "k", head_response(LastModified=moment))

    assert state.last_modified == moment
    assert state.last_modified.tzinfo is UTC
    assert state.last_modified.hour == 10


def test_the_content_length_becomes_an_int() -> None:
    assert state_from_head(BUCKET, "k", head_response(ContentLength="42")).size == 42


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (encoded_word("café 日本", "B"), "café 日本"),
        (encoded_word("café 日本", "Q"), "café 日本"),
        ("=?UTF-8?Q?caf=C3=A9?=", "café"),
        ("=?utf-8?b?Y2Fmw6k=?=", "café"),
        ("=?ISO-8859-1?Q?caf=E9?=", "café"),
    ],
)
def test_rfc_2047_metadata_is_decoded(raw: str, decoded: str) -> None:
    state = state_from_head(BUCKET, "k", head_response(Metadata={"title": raw}))

    assert state.user_metadata == {"title": decoded}


@pytest.mark.parametrize(
    "raw",
    [
        "=?UTF-8?B?abc?=",  # bad base64 padding
        "=?UTF-8?Q?=FF?=",  # not UTF-8
        "=?UTF-8?B?/w==?=",  # not UTF-8
        "=?no-such-charset?Q?x?=",  # unknown charset
        "=?UTF-8?X?abc?=",  # unknown encoding
        "=?UTF-8?Q?unterminated",
        "=?UTF-8?B?!!!?=",
    ],
)
def test_a_malformed_encoded_word_is_kept_as_is(raw: str) -> None:
    state = state_from_head(BUCKET, "k", head_response(Metadata={"title": raw}))

    assert state.user_metadata == {"title": raw}


@pytest.mark.parametrize(
    "raw",
    ["plain ascii", "", "a=?b", "  spaced  out  ", "x=1; y=2", "100% sure?"],
)
def test_plain_ascii_metadata_is_untouched(raw: str) -> None:
    state = state_from_head(BUCKET, "k", head_response(Metadata={"note": raw}))

    assert state.user_metadata == {"note": raw}


def test_metadata_names_are_lowercased() -> None:
    state = state_from_head(BUCKET, "k", head_response(Metadata={"Owner": "x", "MiXeD-Case": "y"}))

    assert state.user_metadata == {"owner": "x", "mixed-case": "y"}
