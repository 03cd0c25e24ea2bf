"""``s3meta.aws.s3``: botocore's failures turned into s3meta's errors, which drive retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from s3meta.aws.s3 import S3Storage, check_bucket, translate_error
from s3meta.domain.objects import ObjectState
from s3meta.errors import (
    ObjectNotFound,
    PermanentError,
    S3MetaError,
    StorageUnavailable,
    TransientError,
)
from tests.unit.conftest import BUCKET

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KEY = "dir/file name+1.txt"
URI = f"s3://{BUCKET}/{KEY}"


def client_error(code: str, status: int, message: str = "") -> ClientError:
    """A ``ClientError`` as botocore raises it for a failed HeadObject."""
    # The stubs want every ResponseMetadata key; botocore itself needs none of them.
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "HeadObject")


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        # HeadObject has no body: a missing key arrives as a bare "404".
        ("404", 404, ObjectNotFound),
        ("NoSuchKey", 404, ObjectNotFound),
        ("NotFound", 404, ObjectNotFound),
        ("NoSuchVersion", 404, ObjectNotFound),
        ("SlowDown", 503, StorageUnavailable),
        ("503", 503, StorageUnavailable),
        ("500", 500, StorageUnavailable),
        ("502", 502, StorageUnavailable),
        ("InternalError", 500, StorageUnavailable),
        ("ServiceUnavailable", 503, StorageUnavailable),
        ("RequestTimeout", 400, StorageUnavailable),
        ("RequestTimeTooSkewed", 403, StorageUnavailable),
        ("Throttling", 429, StorageUnavailable),
        ("ThrottlingException", 400, StorageUnavailable),
        ("429", 429, StorageUnavailable),
        ("SomethingNew", 503, StorageUnavailable),
        ("SomethingNew", 429, StorageUnavailable),
        ("403", 403, PermanentError),
        ("AccessDenied", 403, PermanentError),
        ("400", 400, PermanentError),
        ("InvalidBucketName", 400, PermanentError),
        ("PermanentRedirect", 301, PermanentError),
        # Real S3 answers HEAD on a missing bucket with a bare 404; moto names it NoSuchBucket.
        ("NoSuchBucket", 404, ObjectNotFound),
    ],
)
def test_a_client_error_is_translated_by_its_code_and_status(
    code: str, status: int, expected: type[S3MetaError]
) -> None:
    error = translate_error(client_error(code, status, "details here"), BUCKET, KEY)

    assert type(error) is expected
    assert URI in str(error)


@pytest.mark.parametrize(
    ("code", "status"),
    [("SlowDown", 503), ("500", 500), ("Throttling", 429), ("RequestTimeout", 400)],
)
def test_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    error = translate_error(client_error(code, status), BUCKET, KEY)

    assert isinstance(error, TransientError)


@pytest.mark.parametrize(
    ("code", "status"),
    [("404", 404), ("NoSuchKey", 404), ("AccessDenied", 403), ("400", 400), ("NoSuchBucket", 404)],
)
def test_not_found_and_permanent_errors_are_not_transient(code: str, status: int) -> None:
    error = translate_error(client_error(code, status), BUCKET, KEY)

    assert not isinstance(error, TransientError)


def test_the_s3_message_is_kept_for_a_failure() -> None:
    error = translate_error(
        client_error("SlowDown", 503, "Please reduce your request rate."), BUCKET, KEY
    )

    assert "SlowDown" in str(error)
    assert "Please reduce your request rate." in str(error)


def test_a_client_error_without_a_code_falls_back_to_its_status() -> None:
    response: Any = {"Error": {}, "ResponseMetadata": {"HTTPStatusCode": 503}}
    error = translate_error(ClientError(response, "HeadObject"), BUCKET, KEY)

    assert isinstance(error, StorageUnavailable)
    assert "503" in str(error)


def test_a_client_error_without_response_metadata_is_translated_by_code() -> None:
    error = translate_error(
        ClientError({"Error": {"Code": "SlowDown", "Message": "x"}}, "HeadObject"), BUCKET, KEY
    )

    assert isinstance(error, StorageUnavailable)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), StorageUnavailable),
        (ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), StorageUnavailable),
        (
            ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
            StorageUnavailable,
        ),
        (ParamValidationError(report="Invalid bucket name"), PermanentError),
        (NoCredentialsError(), PermanentError),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value.__name__,
)
def test_a_botocore_error_is_translated_by_its_kind(
    exc: Exception, expected: type[S3MetaError]
) -> None:
    error = translate_error(exc, BUCKET, KEY)

    assert type(error) is expected
    assert URI in str(error)
    assert str(exc) in str(error)


def test_connection_errors_are_transient() -> None:
    error = translate_error(EndpointConnectionError(endpoint_url="http://x"), BUCKET, KEY)

    assert isinstance(error, TransientError)


# S3Storage.head against moto in process ----------------------------------------------------


def test_an_existing_object_gives_its_state(s3: S3Client) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"hello", ContentType="text/plain")

    state = S3Storage(s3).head(BUCKET, KEY)

    assert isinstance(state, ObjectState)
    assert (state.bucket, state.key, state.size) == (BUCKET, KEY, 5)
    assert state.content_type == "text/plain"


def test_a_missing_key_in_an_existing_bucket_is_not_found(s3: S3Client) -> None:
    with pytest.raises(ObjectNotFound, match="s3://bucket-a/missing") as caught:
        S3Storage(s3).head(BUCKET, "missing")

    assert isinstance(caught.value.__cause__, ClientError)


def test_a_key_in_a_missing_bucket_is_not_found(s3: S3Client) -> None:
    with pytest.raises(ObjectNotFound, match="s3://no-such-bucket-xyz/k"):
        S3Storage(s3).head("no-such-bucket-xyz", "k")


def test_an_invalid_bucket_name_is_a_permanent_error(s3: S3Client) -> None:
    with pytest.raises(PermanentError, match=r"s3://Invalid_Bucket!/k") as caught:
        S3Storage(s3).head("Invalid_Bucket!", "k")

    assert isinstance(caught.value.__cause__, ParamValidationError)
    assert not isinstance(caught.value, TransientError)


class RefusingHeadBucket:
    """Just enough of an S3 client: HeadBucket fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def head_bucket(self, **_kwargs: Any) -> None:
        raise self.error


def test_an_existing_bucket_passes_the_bucket_check(s3: S3Client) -> None:
    check_bucket(s3, BUCKET)


def test_a_missing_bucket_is_named_by_the_bucket_check(s3: S3Client) -> None:
    with pytest.raises(PermanentError, match=r"^s3://no-such-bucket-here: no such bucket$"):
        check_bucket(s3, "no-such-bucket-here")


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (client_error("403", 403), PermanentError, "access denied to HeadBucket"),
        (client_error("503", 503, "Slow Down"), StorageUnavailable, "503: Slow Down"),
        (client_error("400", 400, "Bad"), PermanentError, "400: Bad"),
    ],
)
def test_the_bucket_check_says_why_a_bucket_cannot_be_used(
    error: Exception, expected: type[S3MetaError], message: str
) -> None:
    client: Any = RefusingHeadBucket(error)

    with pytest.raises(expected, match=message) as raised:
        check_bucket(client, BUCKET)

    assert str(raised.value).startswith(f"s3://{BUCKET}: ")
