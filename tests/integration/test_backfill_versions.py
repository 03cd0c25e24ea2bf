"""``s3meta backfill --versions`` and ``reconcile --versions`` on moto's server, MariaDB and
real workers: versions made before s3meta ran (no events at all) end in ``object_versions``
as ListObjectVersions lists them, and the current row as HeadObject reads it; versions rows
gone wrong are found and repaired."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from click.testing import Result

from db.engine import create_engine
from db.models import ObjectVersion
from s3meta.cli.backfill import backfill
from s3meta.cli.reconcile import reconcile
from s3meta.config import get_settings
from s3meta.processes import wait_for
from tests.integration.test_versions import SCENARIOS
from tests.support.cli import invoke as cli_invoke
from tests.support.cli import json_report as report
from tests.support.stack import Stack
from tests.support.versions import assert_current_row_is_headobject

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
    s3.put_object(Bucket=bucket, Key="b/doc", Body=b"b")
    s3.delete_object(Bucket=bucket, Key="b/doc")  # a delete marker

    counts = report(run_backfill(f"s3://{bucket}", "--versions", "--only-missing", "--json"))

    assert (counts["listed"], counts["published"], counts["skipped"]) == (5, 3, 2)
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


def run_reconcile(*args: str) -> Result:
    return cli_invoke(reconcile, *args)


def json_lines(result: Result) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_reconcile_versions_finds_a_removed_a_corrupted_and_a_stale_version_and_fix_repairs_them(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    make = SCENARIOS[1]  # delete_marker: two versions, then a delete marker
    make(s3, bucket)
    other = s3.put_object(Bucket=bucket, Key="other", Body=b"x")["VersionId"]
    report(run_backfill(f"s3://{bucket}", "--versions", "--json"))
    keys = ("doc", "other")
    wait_for(
        lambda: all(
            recorded_versions(stack, bucket, key) == listed_versions(s3, bucket, key)
            for key in keys
        ),
        VERSIONS_TIMEOUT,
        "every listed version recorded",
    )
    synced = json_lines(run_reconcile(f"s3://{bucket}", "--versions", "--json", "--check"))
    assert synced[-1]["differences"] == 0
    assert synced[-1]["listed"] == 4

    oldest, newer = sorted(
        (v for v in stack.reader.versions(bucket, "doc") if not v.is_delete_marker),
        key=lambda v: v.size or 0,
    )
    engine = create_engine(stack.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.delete(ObjectVersion).where(ObjectVersion.version_id == oldest.version_id)
            )
            connection.execute(
                sa.update(ObjectVersion)
                .where(ObjectVersion.version_id == newer.version_id)
                .values(etag="bad")
            )
    finally:
        engine.dispose()
    s3.delete_object(Bucket=bucket, Key="other", VersionId=other)  # no event: the row stands

    found = run_reconcile(f"s3://{bucket}", "--versions", "--json", "--check")

    assert found.exit_code == 3, found.output
    *differences, summary = json_lines(found)
    assert {(d["kind"], d["key"], d["version_id"]) for d in differences} == {
        ("missing", "doc", oldest.version_id),
        ("changed", "doc", newer.version_id),
        ("stale", "other", other),
    }
    assert (summary["missing"], summary["changed"], summary["stale"]) == (1, 1, 1)
    text = run_reconcile(f"s3://{bucket}", "--versions")
    assert text.exit_code == 0, text.output
    assert f"missing  s3://{bucket}/doc  version {oldest.version_id}  (no row;" in text.stdout
    assert "run again with --fix" in text.stdout

    fixed = json_lines(run_reconcile(f"s3://{bucket}", "--versions", "--fix", "--json"))

    assert fixed[-1]["queued"] == 3
    wait_for(
        lambda: (
            json_lines(run_reconcile(f"s3://{bucket}", "--versions", "--json"))[-1]["differences"]
            == 0
        ),
        VERSIONS_TIMEOUT,
        "reconcile --versions in sync",
    )
    for key in keys:
        assert recorded_versions(stack, bucket, key) == listed_versions(s3, bucket, key)
        assert_current_row_is_headobject(stack, s3, bucket, key)


def test_reconcile_versions_with_totals_is_a_one_line_error() -> None:
    result = run_reconcile("s3://some-bucket", "--versions", "--totals")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "s3meta reconcile: --totals recounts the totals from rows: not with --versions"
    )


def test_reconcile_versions_on_a_bucket_never_versioned_is_a_one_line_error(stack: Stack) -> None:
    bucket = stack.new_bucket()

    result = run_reconcile(f"s3://{bucket}", "--versions")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: s3://{bucket} has never had versioning enabled: reconcile it without --versions"
    )
