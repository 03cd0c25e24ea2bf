"""``s3meta stats`` against moto's server and MariaDB: the numbers match what the test did."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import Result

from db.models import utcnow
from s3meta.cli.stats import stats
from s3meta.config import get_settings
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.domain.objects import EventInfo, ObjectState
from tasks import extract_metadata
from tests.support.cli import invoke as cli_invoke
from tests.support.faults import Fault
from tests.support.stack import Stack
from tests.support.writes import mark_deleted, save_state

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60
NO_OUTCOMES = dict.fromkeys((str(outcome) for outcome in Outcome), 0)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_stats(*args: str, **env: str) -> Result:
    return cli_invoke(stats, *args, **env)


def stats_json(*args: str, **env: str) -> dict[str, Any]:
    result = run_stats("--json", *args, **env)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def put_row(stack: Stack, bucket: str, key: str) -> None:
    state = ObjectState(
        bucket=bucket,
        key=key,
        size=10,
        etag="9b2cf535f27731c974343645a3985328",
        last_modified=utcnow() - timedelta(minutes=5),
        content_type="text/plain",
    )
    save_state(stack.store, state, EventInfo())


def record(stack: Stack, bucket: str, outcome: Outcome, finished_at: datetime, n: int = 1) -> None:
    for index in range(n):
        stack.store.record_attempt(
            Attempt(
                task_id=f"task-{outcome}-{index}",
                bucket=bucket,
                key=f"attempted-{index}.txt",
                attempt=1,
                outcome=outcome,
                started_at=finished_at,
                finished_at=finished_at,
            )
        )


def test_rows_per_bucket_count_live_and_deleted(stack: Stack) -> None:
    bucket, other = stack.new_bucket(), stack.new_bucket()
    for key in ("a.txt", "b.txt", "c.txt", "d.txt"):
        put_row(stack, bucket, key)
    mark_deleted(stack.store, bucket, "d.txt", EventInfo(event_name="ObjectRemoved:Delete"))
    mark_deleted(stack.store, bucket, "never-seen.txt", EventInfo())
    put_row(stack, other, "x.txt")

    mine = stats_json("--bucket", bucket)
    everything = stats_json()

    # The never-seen key is no object: in neither count.
    assert mine["buckets"] == [
        {"bucket": bucket, "live": 3, "deleted": 1, "total": 4, "never_seen": 1}
    ]
    assert mine["bucket"] == bucket
    listed = {entry["bucket"]: entry for entry in everything["buckets"]}
    assert listed[bucket] == mine["buckets"][0]
    assert listed[other] == {
        "bucket": other,
        "live": 1,
        "deleted": 0,
        "total": 1,
        "never_seen": 0,
    }
    names = [entry["bucket"] for entry in everything["buckets"]]
    assert names == sorted(names)


def test_attempts_are_counted_per_outcome_over_the_last_hour_and_day(stack: Stack) -> None:
    bucket = stack.new_bucket()
    now = utcnow()
    before = run_stats("--bucket", bucket, "--json")
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["attempts"] == {
        "last_hour": NO_OUTCOMES,
        "last_day": NO_OUTCOMES,
    }
    assert f"nothing recorded for bucket {bucket}" in before.stderr
    record(stack, bucket, Outcome.FAILED, now - timedelta(minutes=10), n=2)
    record(stack, bucket, Outcome.RETRYING, now - timedelta(minutes=30), n=3)
    record(stack, bucket, Outcome.SKIPPED, now - timedelta(minutes=50))
    record(stack, bucket, Outcome.FAILED, now - timedelta(hours=5))
    record(stack, bucket, Outcome.RETRYING, now - timedelta(hours=23))
    record(stack, bucket, Outcome.FAILED, now - timedelta(days=2), n=4)  # too old for both
    # And real runs through the worker: one denied (failed), one throttled once then fine.
    stack.s3().put_object(Bucket=bucket, Key="denied.txt", Body=b"d")
    stack.s3().put_object(Bucket=bucket, Key="busy.txt", Body=b"b")
    stack.faults.fail("HEAD", f"/{bucket}/denied.txt", Fault(403, "AccessDenied"))
    stack.faults.fail("HEAD", f"/{bucket}/busy.txt", Fault(503, "SlowDown", times=1))
    for key in ("denied.txt", "busy.txt"):
        extract_metadata.delay(bucket, key).get(timeout=RESULT_TIMEOUT, propagate=False)

    attempts = stats_json("--bucket", bucket)["attempts"]

    assert attempts["last_hour"] == {
        **NO_OUTCOMES,
        "failed": 3,
        "retrying": 4,
        "skipped": 1,
        "succeeded": 1,
    }
    assert attempts["last_day"] == {
        **NO_OUTCOMES,
        "failed": 4,
        "retrying": 5,
        "skipped": 1,
        "succeeded": 1,
    }


def test_queue_depths_and_the_oldest_message_age(stack: Stack) -> None:
    client = stack.sqs()
    events, tasks = stack.new_queue("events"), stack.new_queue("tasks")
    events_url = client.get_queue_url(QueueName=events)["QueueUrl"]
    tasks_url = client.get_queue_url(QueueName=tasks)["QueueUrl"]
    first_sent = time.time()
    client.send_message(QueueUrl=events_url, MessageBody="oldest")
    time.sleep(1.5)
    for body in ("newer", "newest"):
        client.send_message(QueueUrl=events_url, MessageBody=body)
    client.send_message(QueueUrl=events_url, MessageBody="later", DelaySeconds=300)
    for n in range(5):
        client.send_message(QueueUrl=tasks_url, MessageBody=f"task {n}")
    taken = client.receive_message(QueueUrl=tasks_url, MaxNumberOfMessages=2, VisibilityTimeout=300)
    assert len(taken.get("Messages", [])) == 2
    env = {
        "S3META_EVENTS_QUEUE": events,
        "S3META_TASK_QUEUE": tasks,
        "S3META_DEAD_LETTER_QUEUE": "s3meta-no-such-dlq",
    }

    report = stats_json(**env)
    elapsed = time.time() - first_sent

    by_role = {queue["role"]: queue for queue in report["queues"]}
    assert list(by_role) == ["events", "task", "dead-letter"]
    event_queue = by_role["events"]
    assert (event_queue["name"], event_queue["exists"]) == (events, True)
    assert (event_queue["visible"], event_queue["in_flight"], event_queue["delayed"]) == (3, 0, 1)
    assert event_queue["sampled"] == 3
    assert 1.4 <= event_queue["oldest_age_seconds"] <= elapsed + 1
    assert event_queue["oldest_sent_at"].endswith("Z")
    task_queue = by_role["task"]
    assert (task_queue["visible"], task_queue["in_flight"], task_queue["delayed"]) == (3, 2, 0)
    assert task_queue["sampled"] == 3
    assert by_role["dead-letter"] == {
        "role": "dead-letter",
        "name": "s3meta-no-such-dlq",
        "exists": False,
        "visible": None,
        "in_flight": None,
        "delayed": None,
        "oldest_sent_at": None,
        "oldest_age_seconds": None,
        "sampled": 0,
    }
    # Peeking took nothing away from the consumers.
    again = {queue["role"]: queue for queue in stats_json("--no-peek", **env)["queues"]}
    assert (again["events"]["visible"], again["events"]["in_flight"]) == (3, 0)
    assert (again["task"]["visible"], again["task"]["in_flight"]) == (3, 2)
    assert again["events"]["oldest_age_seconds"] is None
    assert again["events"]["sampled"] == 0


def test_the_tables_show_rows_attempts_and_queues(stack: Stack) -> None:
    bucket = stack.new_bucket()
    put_row(stack, bucket, "a.txt")
    record(stack, bucket, Outcome.FAILED, utcnow() - timedelta(minutes=1))
    events = stack.new_queue("events")

    result = run_stats(
        "--bucket",
        bucket,
        S3META_EVENTS_QUEUE=events,
        S3META_DEAD_LETTER_QUEUE="s3meta-no-such-dlq",
        COLUMNS="200",
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split() == [bucket, "1", "0", "1"] for line in lines), result.stdout
    # The same outcome names as --json, every one of them.
    for outcome in Outcome:
        expected = "1" if outcome is Outcome.FAILED else "0"
        assert any(line.split() == [outcome, expected, expected] for line in lines), result.stdout
    assert any(line.split()[:3] == ["events", events, "0"] for line in lines), result.stdout
    assert any(
        line.split() == ["dead-letter", "s3meta-no-such-dlq", "missing", "-", "-", "-"]
        for line in lines
    ), result.stdout


def test_an_unreachable_database_is_one_clear_line(stack: Stack) -> None:
    url = stack.database_url.rsplit("/", 1)[0] + "/s3meta_no_such_database?charset=utf8mb4"

    result = run_stats(S3META_DATABASE_URL=url)

    assert result.exit_code == 1
    assert "s3meta_no_such_database" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
