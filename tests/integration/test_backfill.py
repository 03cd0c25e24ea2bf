"""``s3meta backfill`` against moto's server and MariaDB, with real workers running the tasks."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
import sqlalchemy as sa
from click.testing import Result

from db.engine import create_engine
from db.models import ObjectMetadata
from s3meta.cli.backfill import backfill
from s3meta.config import get_settings
from s3meta.processes import WorkerProcess, wait_for
from tasks.app import WAIT_TIME_SECONDS
from tests.support.cli import invoke as cli_invoke
from tests.support.cli import json_report as report
from tests.support.database import ROOT
from tests.support.faults import Fault
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

# The issue asks for 5,000; S3META_TEST_BACKFILL_OBJECTS makes a quicker run possible.
OBJECTS = int(os.environ.get("S3META_TEST_BACKFILL_OBJECTS", "5000"))
PREFIXES = ("alpha/", "beta/one/", "beta/two/", "gamma/", "")
# The first run gets this many tasks through (whole batches of ten), then SQS fails.
INTERRUPT_AFTER = OBJECTS * 3 // 100 * 10
# moto's SQS costs O(queue depth) per receive: backfill keeps the task queue this shallow.
SHALLOW = ("--max-queue-depth", "100")
# A bound, not a target: on a loaded 2-core machine moto indexes ~10 objects/s.
ROWS_TIMEOUT = max(180, OBJECTS // 5)
_STOPPED = re.compile(
    r"stopped after s3://(?P<bucket>[^/]+)/(?P<key>.*); "
    r"resume with --start-after '(?P<quoted>.*)' \("
)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def extra_worker(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A thread-pool worker on the same task queue, so that 5,000 tasks finish quickly."""
    worker = WorkerProcess(
        stack.env,
        tmp_path_factory.mktemp("backfill-worker") / "worker.log",
        concurrency=8,
        pool="threads",
        name="backfill",
        cwd=ROOT,
    )
    yield
    worker.stop()
    # Its last long poll stays open at SQS for up to WAIT_TIME_SECONDS and would take (and
    # hide for the visibility timeout) the next test's task: let it run out first.
    time.sleep(WAIT_TIME_SECONDS + 1)


@pytest.fixture(scope="module")
def big_bucket(stack: Stack) -> str:
    """A bucket of 5,000 tiny objects across prefixes (uploaded straight to moto)."""
    bucket = stack.new_bucket()
    client = boto3.client("s3", endpoint_url=stack.moto.url, region_name="us-east-1")
    keys = [f"{PREFIXES[n % len(PREFIXES)]}object-{n:05}.txt" for n in range(OBJECTS)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        list(
            pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys)
        )
    return bucket


def run_backfill(*args: str, **env: str) -> Result:
    return cli_invoke(backfill, *args, **env)


def row_count(stack: Stack, bucket: str) -> int:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            query = sa.select(sa.func.count()).where(ObjectMetadata.bucket == bucket)
            return int(connection.execute(query).scalar_one())
    finally:
        engine.dispose()


@pytest.mark.timeout(ROWS_TIMEOUT + 120)
def test_an_interrupted_backfill_resumes_and_indexes_every_object_once(
    stack: Stack, big_bucket: str, extra_worker: None
) -> None:
    queue = stack.env["S3META_TASK_QUEUE"]
    # INTERRUPT_AFTER tasks get through, then SQS fails every SendMessageBatch.
    failure = Fault(500, "InternalError", after=INTERRUPT_AFTER // 10)
    fault = stack.faults.fail_sqs("SendMessageBatch", queue, failure)
    try:
        first = run_backfill(
            f"s3://{big_bucket}", *SHALLOW, "--json", AWS_ENDPOINT_URL=stack.faults.url
        )
    finally:
        stack.faults.clear_sqs(fault)

    assert first.exit_code == 1, first.output
    assert "Traceback" not in first.output
    stopped = _STOPPED.search(first.stderr)
    assert stopped is not None, first.stderr
    assert stopped["bucket"] == big_bucket
    resume_after = stopped["quoted"]
    assert resume_after == stopped["key"]
    assert f"published {INTERRUPT_AFTER}," in first.stderr

    second = report(
        run_backfill(
            f"s3://{big_bucket}",
            "--start-after",
            resume_after,
            *SHALLOW,
            "--json",
            AWS_ENDPOINT_URL=stack.faults.url,
        )
    )

    assert second == {
        "bucket": big_bucket,
        "prefix": "",
        "listed": OBJECTS - INTERRUPT_AFTER,
        "published": OBJECTS - INTERRUPT_AFTER,
        "skipped": 0,
        "total": None,
    }
    wait_for(lambda: row_count(stack, big_bucket) >= OBJECTS, ROWS_TIMEOUT, f"{OBJECTS} rows")
    assert row_count(stack, big_bucket) == OBJECTS
    sample = stack.reader.get(big_bucket, "beta/two/object-00002.txt")
    assert sample is not None
    assert sample.size == len(b"beta/two/object-00002.txt")

    # --only-missing: every row matches, so nothing is published ...
    again = report(run_backfill(f"s3://{big_bucket}", "--only-missing", "--json"))
    assert again["listed"] == OBJECTS
    assert again["published"] == 0
    assert again["skipped"] == OBJECTS

    # ... except what changed, also within a prefix and after a start key.
    changed = "beta/one/object-00006.txt"  # n % 5 == 1
    stack.s3().put_object(Bucket=big_bucket, Key=changed, Body=b"changed")
    partial = report(
        run_backfill(
            f"s3://{big_bucket}/beta/",
            "--only-missing",
            "--start-after",
            "beta/one/object-00001.txt",
            "--json",
        )
    )
    assert partial["published"] == 1
    assert partial["listed"] == partial["skipped"] + 1
    assert partial["listed"] == 2 * OBJECTS // len(PREFIXES) - 1


def test_plain_output_reports_the_counts(stack: Stack) -> None:
    bucket = stack.new_bucket()
    for number in range(23):
        stack.s3().put_object(Bucket=bucket, Key=f"p/{number:02}", Body=b"x")
    stack.s3().put_object(Bucket=bucket, Key="other", Body=b"x")

    result = run_backfill(f"s3://{bucket}/p/", "--batch-size", "4")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "listed 23, published 23, skipped 0"
    wait_for(lambda: row_count(stack, bucket) == 23, 60, "23 rows")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("not-a-uri", "not an S3 URI"),
        ("s3://Bad_Bucket/x", "invalid bucket name"),
        ("s3://", "no bucket"),
    ],
)
def test_a_bad_uri_is_one_line_and_exit_2(uri: str, message: str) -> None:
    result = run_backfill(uri)

    assert result.exit_code == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert message in error_lines[0]
    assert "Traceback" not in result.output


def test_an_unknown_bucket_is_one_line(stack: Stack) -> None:
    result = run_backfill(f"s3://missing-{uuid.uuid4().hex[:10]}")

    assert result.exit_code == 1
    assert "no such bucket" in result.stderr
    assert "Traceback" not in result.output
