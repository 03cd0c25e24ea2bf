"""``s3meta backfill --versions`` on moto's server, MariaDB and real workers: versions made
before s3meta ran (no events at all) end in ``object_versions`` as ListObjectVersions lists
them, and the current row as HeadObject reads it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from click.testing import Result

from s3meta.cli.backfill import backfill
from s3meta.config import get_settings
from s3meta.processes import wait_for
from tests.integration.test_versions import SCENARIOS
from tests.support.cli import invoke as cli_invoke
from tests.support.cli import json_report as report
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.mysql

VERSIONS_TIMEOUT = 90

Version = tuple[str, bool, str | None]  # version id, delete marker, etag


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_backfill(*args: str) -> Result:
    return cli_invoke(backfill, *args)


def listed_versions(s3: S3Client, bucket: str, key: str) -> set[Version]:
    found = s3.list_object_versions(Bucket=bucket, Prefix=key)
    listed: set[Version] = {
        (v["VersionId"], False, v["ETag"].strip('"'))
        for v in found.get("Versions", [])
        if v["Key"] == key
    }
    return listed | {
        (m["VersionId"], True, None) for m in found.get("DeleteMarkers", []) if m["Key"] == key
    }


def recorded_versions(stack: Stack, bucket: str, key: str) -> set[Version]:
    return {
        (str(v.version_id), v.is_delete_marker, None if v.is_delete_marker else v.etag)
        for v in stack.reader.versions(bucket, key)
    }


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


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda make: make.__name__)
def test_versions_made_before_s3meta_ran_are_recorded_as_listobjectversions_lists_them(
    stack: Stack, make: Callable[[S3Client, str], list[dict[str, Any]]]
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    make(s3, bucket)  # its events are never delivered: only the listing knows of them
    listed = listed_versions(s3, bucket, "doc")

    counts = report(run_backfill(f"s3://{bucket}", "--versions", "--json"))

    assert counts["listed"] == counts["published"] == len(listed)
    wait_for(
        lambda: recorded_versions(stack, bucket, "doc") == listed,
        VERSIONS_TIMEOUT,
        "every listed version recorded",
    )
    assert_current_row_is_headobject(stack, s3, bucket, "doc")

    again = report(run_backfill(f"s3://{bucket}", "--versions", "--only-missing", "--json"))
    assert (again["listed"], again["published"], again["skipped"]) == (
        len(listed),
        0,
        len(listed),
    )


def test_only_missing_with_versions_publishes_only_the_versions_not_recorded(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="a/doc", Body=body)
    report(run_backfill(f"s3://{bucket}", "--versions", "--json"))
    listed = listed_versions(s3, bucket, "a/doc")
    wait_for(
        lambda: recorded_versions(stack, bucket, "a/doc") == listed,
        VERSIONS_TIMEOUT,
        "a/doc's versions recorded",
    )
    s3.put_object(Bucket=bucket, Key="a/doc", Body=b"three")
    s3.delete_object(Bucket=bucket, Key="b/doc")  # a delete marker on a key never put

    counts = report(run_backfill(f"s3://{bucket}", "--versions", "--only-missing", "--json"))

    assert (counts["listed"], counts["published"], counts["skipped"]) == (4, 2, 2)
    wait_for(
        lambda: all(
            recorded_versions(stack, bucket, key) == listed_versions(s3, bucket, key)
            for key in ("a/doc", "b/doc")
        ),
        VERSIONS_TIMEOUT,
        "every listed version recorded",
    )
    assert_current_row_is_headobject(stack, s3, bucket, "a/doc")
    assert_current_row_is_headobject(stack, s3, bucket, "b/doc")


def test_versions_on_a_bucket_never_versioned_backfills_its_objects_and_says_so(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="plain", Body=b"x")

    result = run_backfill(f"s3://{bucket}", "--versions")

    assert result.exit_code == 0, result.output
    assert "never had versioning enabled" in result.stderr
    assert result.stdout.strip() == "listed 1, published 1, skipped 0"


def test_versions_with_count_first_is_a_one_line_usage_error() -> None:
    result = run_backfill("s3://some-bucket", "--versions", "--count-first")

    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: --count-first counts objects, not versions: not with --versions"]
