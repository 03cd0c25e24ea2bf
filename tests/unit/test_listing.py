"""ListObjectsV2 paging and error translation, on moto in process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from botocore.stub import Stubber

from s3meta.aws.listing import NoSuchBucket, count_objects, iter_listing, iter_pages
from s3meta.errors import PermanentError, StorageUnavailable, TransientError
from tests.unit.conftest import BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEYS = [f"p/{number:02}" for number in range(7)] + ["q/other"]


@pytest.fixture
def filled(s3: S3Client) -> S3Client:
    for key in KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"xyz")
    return s3


def test_pages_hold_at_most_page_size_objects_and_start_after_the_given_key(
    filled: S3Client,
) -> None:
    pages = list(iter_pages(filled, BUCKET, "p/", start_after="p/01", page_size=2))

    assert [[entry.key for entry in page] for page in pages] == [
        ["p/02", "p/03"],
        ["p/04", "p/05"],
        ["p/06"],
    ]
    assert {(entry.size, '"' in entry.etag) for page in pages for entry in page} == {(3, False)}


def test_the_flat_listing_and_the_count_agree_with_the_pages(filled: S3Client) -> None:
    counted: list[int] = []

    total = count_objects(filled, BUCKET, "p/", start_after="p/04", counted=counted.append)

    listed = [entry.key for entry in iter_listing(filled, BUCKET, "p/", start_after="p/04")]
    assert listed == ["p/05", "p/06"]
    assert total == 2
    assert counted == [2]
    assert count_objects(filled, BUCKET, "none/") == 0


def test_an_unknown_bucket_is_named_in_a_permanent_error(s3: S3Client) -> None:
    with pytest.raises(NoSuchBucket, match=r"^s3://no-such-bucket: no such bucket$") as caught:
        next(iter_pages(s3, "no-such-bucket"))

    assert isinstance(caught.value, PermanentError)


@pytest.mark.parametrize(
    ("code", "status", "expected", "message"),
    [
        ("SlowDown", 503, StorageUnavailable, "S3 ListObjectsV2 on s3://bucket-a: SlowDown"),
        ("InternalError", 500, StorageUnavailable, "InternalError"),
        ("AccessDenied", 403, PermanentError, "needs s3:ListBucket"),
        ("403", 403, PermanentError, "needs s3:ListBucket"),
        ("InvalidArgument", 400, PermanentError, "InvalidArgument"),
    ],
)
def test_s3_errors_become_s3metas(
    s3: S3Client, code: str, status: int, expected: type[Exception], message: str
) -> None:
    with Stubber(s3) as stubber:
        stubber.add_client_error("list_objects_v2", code, "details", http_status_code=status)
        with pytest.raises(expected, match=message) as caught:
            list(iter_listing(s3, BUCKET))

    assert isinstance(caught.value, TransientError) == (expected is StorageUnavailable)
