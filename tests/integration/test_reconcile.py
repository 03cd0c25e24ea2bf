"""``s3meta reconcile`` against moto's server and MariaDB, with the real worker repairing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import Result

from s3meta.cli.reconcile import reconcile
from s3meta.config import get_settings
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.processes import wait_for
from tests.support.cli import invoke as cli_invoke
from tests.support.stack import Stack
from tests.support.writes import save_state

pytestmark = pytest.mark.mysql

REPAIR_TIMEOUT = 60


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_reconcile(*args: str) -> Result:
    return cli_invoke(reconcile, *args)


def json_report(*args: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result = run_reconcile(*args, "--json")
    assert result.exit_code == 0, result.output
    *found, summary = [json.loads(line) for line in result.stdout.splitlines()]
    return found, summary


def index(stack: Stack, bucket: str, key: str) -> None:
    """Record the object's current state as an event would have, directly in the table."""
    head = stack.s3().head_object(Bucket=bucket, Key=key)
    state = ObjectState(
        bucket=bucket,
        key=key,
        size=int(head["ContentLength"]),
        etag=head["ETag"].strip('"'),
        # Older than anything S3 will say later, so the repair is never taken as stale news.
        last_modified=datetime.now(UTC) - timedelta(hours=1),
    )
    save_state(stack.store, state, EventInfo(event_name="ObjectCreated:Put"))


def test_reconcile_finds_planted_drift_and_fix_repairs_it(stack: Stack) -> None:
    bucket = stack.new_bucket()
    s3 = stack.s3()
    in_sync = ["data/ok-1", "data/ok-2", "data/é ok"]
    missing = ["data/missing-1", "data/\U0001f600 missing"]
    stale = ["data/stale-1", "data/stale 2"]
    changed = "data/changed"
    outside = "other/missing"  # outside the prefix: not reported
    for key in [*in_sync, *stale, changed]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"first")
        index(stack, bucket, key)
    for key in [*missing, outside]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"never indexed")
    for key in stale:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=changed, Body=b"second, longer")

    found, summary = json_report(f"s3://{bucket}/data/")

    expected = sorted(
        [("missing", key) for key in missing]
        + [("stale", key) for key in stale]
        + [("changed", changed)],
        key=lambda pair: pair[1].encode(),
    )
    assert [(d["kind"], d["key"]) for d in found] == expected
    assert {
        k: summary[k] for k in ("listed", "rows", "in_sync", "missing", "stale", "changed")
    } == {
        "listed": 6,
        "rows": 6,
        "in_sync": 3,
        "missing": 2,
        "stale": 2,
        "changed": 1,
    }
    text = run_reconcile(f"s3://{bucket}/data/", "--check")
    assert text.exit_code == 3, text.output
    assert "missing 2, stale 2, changed 1" in text.stdout

    fixed = run_reconcile(f"s3://{bucket}/data/", "--fix")
    assert fixed.exit_code == 0, fixed.output
    assert "queued 5 repair tasks" in fixed.stdout

    def in_sync_now() -> bool:
        return bool(json_report(f"s3://{bucket}/data/")[1]["differences"] == 0)

    wait_for(in_sync_now, REPAIR_TIMEOUT, "reconcile to report the bucket in sync")
    _, after = json_report(f"s3://{bucket}/data/")
    assert (after["listed"], after["rows"], after["live_rows"], after["in_sync"]) == (6, 8, 6, 6)
    for key in stale:
        row = stack.reader.get(bucket, key)
        assert row is not None
        assert row.is_deleted
    row = stack.reader.get(bucket, changed)
    assert row is not None
    assert row.size == len(b"second, longer")
    # The whole bucket still shows the object outside the prefix.
    _, whole = json_report(f"s3://{bucket}")
    assert (whole["missing"], whole["stale"], whole["changed"]) == (1, 0, 0)
    checked = run_reconcile(f"s3://{bucket}/data/", "--check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.splitlines()[-1] == "s3meta: in sync"


def test_an_unknown_bucket_is_one_line(stack: Stack) -> None:
    result = run_reconcile("s3://no-such-bucket-reconcile")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: s3://no-such-bucket-reconcile: no such bucket"
    ]
