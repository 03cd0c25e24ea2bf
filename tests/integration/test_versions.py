"""Every version of a versioned key, on real workers, moto's server and MariaDB: events
shuffled and duplicated, the versions table ends as ListObjectVersions and the current row
as HeadObject."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from s3meta.cli import main
from s3meta.config import get_settings
from tasks import extract_metadata
from tests.support.stack import Stack
from tests.support.versions import assert_current_row_is_headobject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60
_sequencers = itertools.count(0x0055AED6DCE9000000)


def _event(name: str, version: str) -> dict[str, Any]:
    return {
        "event_name": name,
        "event_time": datetime.now(UTC).isoformat(),
        "sequencer": f"{next(_sequencers):018X}",
        "version_id": version,
    }


def _put(s3: S3Client, bucket: str, body: bytes) -> dict[str, Any]:
    version = s3.put_object(Bucket=bucket, Key="doc", Body=body)["VersionId"]
    return _event("ObjectCreated:Put", version)


def _delete(s3: S3Client, bucket: str) -> dict[str, Any]:
    marker = s3.delete_object(Bucket=bucket, Key="doc")["VersionId"]
    return _event("ObjectRemoved:DeleteMarkerCreated", marker)


def _delete_version(s3: S3Client, bucket: str, version: str) -> dict[str, Any]:
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=version)
    return _event("ObjectRemoved:Delete", version)


def overwrite(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    return [_put(s3, bucket, b"one"), _put(s3, bucket, b"two, longer")]


def delete_marker(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    return [*overwrite(s3, bucket), _delete(s3, bucket)]


def delete_of_a_version(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    first, second = overwrite(s3, bucket)
    return [first, second, _delete_version(s3, bucket, second["version_id"])]


def restore(s3: S3Client, bucket: str) -> list[dict[str, Any]]:
    events = delete_marker(s3, bucket)
    return [*events, _delete_version(s3, bucket, events[-1]["version_id"])]


SCENARIOS: list[Callable[[S3Client, str], list[dict[str, Any]]]] = [
    overwrite,
    delete_marker,
    delete_of_a_version,
    restore,
]


def _listed(s3: S3Client, bucket: str) -> tuple[set[tuple[str, bool, str | None]], str]:
    """ListObjectVersions of the key: (version, delete marker, etag) each, and the latest."""
    found = s3.list_object_versions(Bucket=bucket, Prefix="doc")
    versions = found.get("Versions", [])
    markers = found.get("DeleteMarkers", [])
    listed: set[tuple[str, bool, str | None]] = {
        (v["VersionId"], False, v["ETag"].strip('"')) for v in versions
    }
    listed |= {(m["VersionId"], True, None) for m in markers}
    (latest,) = [e["VersionId"] for e in [*versions, *markers] if e["IsLatest"]]
    return listed, latest


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda make: make.__name__)
def test_shuffled_and_duplicated_events_end_with_listobjectversions_and_headobject(
    stack: Stack, make: Callable[[S3Client, str], list[dict[str, Any]]]
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    events = make(s3, bucket)
    order = events * 2
    random.Random(17).shuffle(order)

    results = [extract_metadata.delay(bucket, "doc", **fields) for fields in order]
    for result in results:
        result.get(timeout=RESULT_TIMEOUT)

    recorded = [
        (str(v.version_id), v.is_delete_marker, None if v.is_delete_marker else v.etag)
        for v in stack.reader.versions(bucket, "doc")
    ]
    listed, latest = _listed(s3, bucket)
    assert set(recorded) == listed
    assert len(recorded) == len(listed)
    assert recorded[0][0] == latest  # newest first
    assert_current_row_is_headobject(stack, s3, bucket, "doc")


def test_show_versions_and_list_all_versions_print_each_version_newest_first(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    events = delete_marker(s3, bucket)
    for fields in events:
        extract_metadata.delay(bucket, "doc", **fields).get(timeout=RESULT_TIMEOUT)
    runner = CliRunner()
    get_settings.cache_clear()
    try:
        env = {"S3META_DATABASE_URL": stack.database_url}
        shown = runner.invoke(main, ["show", f"s3://{bucket}/doc", "--versions"], env=env)
        listed = runner.invoke(main, ["list", "--bucket", bucket, "--all-versions"], env=env)
    finally:
        get_settings.cache_clear()

    assert shown.exit_code == 0, shown.output
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [line["version_id"] for line in lines] == [e["version_id"] for e in reversed(events)]
    assert [line["is_delete_marker"] for line in lines] == [True, False, False]
    assert [line["is_latest"] for line in lines] == [True, False, False]
    assert listed.stdout == shown.stdout
