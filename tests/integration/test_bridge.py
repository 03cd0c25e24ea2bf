"""The bridge against moto's server, with a real worker on MariaDB consuming what it publishes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from celery.result import AsyncResult

from s3meta.aws.sqs import DeadLetters, Queue
from s3meta.bridge import Bridge, BridgeOptions, BridgeStats
from s3meta.cli.query import show
from s3meta.cli.setup import setup
from s3meta.domain.events import ObjectEvent, parse_body
from s3meta.domain.records import ObjectFilter
from s3meta.errors import InvalidTaskArguments
from s3meta.processes import wait_for
from tasks.publisher import CeleryPublisher
from tests.support.cli import invoke, json_report
from tests.support.samples import SAMPLE_EVENTS
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.mysql

SAMPLES = SAMPLE_EVENTS
RESULT_TIMEOUT = 60


@dataclass
class Queues:
    events: str
    dead_letters: str


@pytest.fixture
def queues(stack: Stack) -> Queues:
    return Queues(stack.new_queue("events"), stack.new_queue("events-dlq"))


def drain(
    stack: Stack,
    queues: Queues,
    client: SQSClient | None = None,
    publisher: CeleryPublisher | None = None,
) -> BridgeStats:
    """Run an in-process bridge until the events queue is empty; wait for its tasks."""
    client = client or stack.sqs()
    publisher = publisher or CeleryPublisher()
    bridge = Bridge(
        Queue(client, queues.events),
        DeadLetters(Queue(client, queues.dead_letters)),
        publisher,
        BridgeOptions(wait_seconds=1, visibility_timeout=30, drain=True, keep_task_ids=True),
    )
    try:
        stats = bridge.run()
    finally:
        publisher.close()
    wait_for_tasks(stats.task_ids)
    return stats


def wait_for_tasks(task_ids: list[str]) -> None:
    for task_id in task_ids:
        AsyncResult(task_id).get(timeout=RESULT_TIMEOUT, propagate=False)


def dead_letters(stack: Stack, queue: str) -> list[tuple[str, dict[str, str]]]:
    """Every message on ``queue``: body and string attributes."""
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    found: list[tuple[str, dict[str, str]]] = []
    for _ in range(20):
        response = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            attributes = {
                name: value.get("StringValue", "")
                for name, value in message.get("MessageAttributes", {}).items()
            }
            found.append((message["Body"], attributes))
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def queue_total(stack: Stack, queue: str) -> int:
    return Queue(stack.sqs(), queue).depth().total


def test_uploads_notified_by_the_bucket_end_up_in_the_table(stack: Stack, queues: Queues) -> None:
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queues.events)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bucket = stack.new_bucket()
    s3 = stack.s3()
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )
    keys = ["with space/and+plus.txt", "ünï/日本.txt", "100%/done.txt", "a/b/c.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.delete_object(Bucket=bucket, Key="a/b/c.txt")

    stats = drain(stack, queues)

    assert stats.test_events == 1  # sent by S3 when the notification was configured
    assert stats.published == len(keys) + 1
    assert stats.dead_lettered == 0
    rows = {row.object_key: row for row in stack.reader.iter_objects(ObjectFilter(bucket))}
    assert set(rows) == set(keys)
    for key in keys[:3]:
        assert rows[key].size == len(key.encode())
        assert rows[key].is_deleted is False
        assert str(rows[key].event_name).startswith("ObjectCreated:")
    assert rows["a/b/c.txt"].is_deleted is True
    assert queue_total(stack, queues.events) == 0


def test_every_sample_body_is_indexed_or_dead_lettered_with_its_reason(
    stack: Stack, queues: Queues
) -> None:
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queues.events)["QueueUrl"]
    samples = sorted(path for path in SAMPLES.iterdir() if path.suffix in {".json", ".txt"})
    bodies = {path.name: path.read_text() for path in samples}
    # Good and bad interleaved, and one duplicate: nothing may hold anything else up.
    for name in [*bodies, "put.json"]:
        client.send_message(QueueUrl=url, MessageBody=bodies[name])
    bad = {name for name in bodies if name.startswith("bad-")}
    expected_keys = {
        (event.bucket, event.key)
        for name, body in bodies.items()
        if name not in bad
        for event in parse_body(body).events
    }

    stats = drain(stack, queues)

    assert stats.dead_lettered == len(bad)
    assert stats.test_events == 1
    for bucket, key in expected_keys:
        assert stack.reader.get(bucket, key) is not None, f"s3://{bucket}/{key} not indexed"
    letters = dead_letters(stack, queues.dead_letters)
    assert sorted(body for body, _ in letters) == sorted(bodies[name] for name in bad)
    for _body, attributes in letters:
        assert attributes["s3meta-reason"]
        assert attributes["s3meta-source-queue"] == queues.events
        assert attributes["s3meta-original-message-id"]
    assert queue_total(stack, queues.events) == 0


def bridge_process(
    stack: Stack, queues: Queues, log: Path, *extra: str, endpoint: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **stack.env,
        "S3META_EVENTS_QUEUE": queues.events,
        "S3META_DEAD_LETTER_QUEUE": queues.dead_letters,
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3META_"))}
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "s3meta.cli", "bridge", "--wait-seconds", "1", *extra],
            env={**inherited, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_a_publish_failure_mid_message_keeps_it_for_redelivery_and_indexes_once(
    stack: Stack, queues: Queues, tmp_path: Path
) -> None:
    bucket = stack.new_bucket()
    for key in ("first.txt", "second.txt"):
        stack.s3().put_object(Bucket=bucket, Key=key, Body=b"x")
    body = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
                }
                for key in ("first.txt", "second.txt")
            ]
        }
    )
    events = Queue(stack.sqs(), queues.events)
    events.send(body)
    # SQS takes the first task of the SendMessageBatch, refuses the second: the message stays.
    fault = stack.faults.refuse_entries(stack.env["S3META_TASK_QUEUE"], after=1)
    log = tmp_path / "bridge.log"
    process = bridge_process(
        stack, queues, log, "--visibility-timeout", "3", endpoint=stack.faults.url
    )
    try:
        wait_for(lambda: b"kept for redelivery" in log.read_bytes(), 90, "a publish failure")
        stack.faults.clear_entries(fault)
        wait_for(
            lambda: stack.reader.get(bucket, "second.txt") is not None, 90, "the redelivered task"
        )
        wait_for(lambda: events.depth().total == 0, 30, "the events queue to empty")
    finally:
        process.terminate()
        exit_code = process.wait(timeout=60)
    assert exit_code == 0, log.read_text()
    assert [row.object_key for row in stack.reader.iter_objects(ObjectFilter(bucket))] == [
        "first.txt",
        "second.txt",
    ]
    assert "bridge stopped" in log.read_text()


def test_sigterm_stops_a_waiting_bridge_cleanly(
    stack: Stack, queues: Queues, tmp_path: Path
) -> None:
    log = tmp_path / "bridge.log"
    process = bridge_process(stack, queues, log)
    wait_for(lambda: b"bridge: " in log.read_bytes(), 30, "the bridge to start")

    process.terminate()

    assert process.wait(timeout=30) == 0, log.read_text()
    assert "SIGTERM: stopping after the current batch" in log.read_text()


def test_a_missing_events_queue_stops_the_bridge_with_one_clear_line(
    stack: Stack, tmp_path: Path
) -> None:
    log = tmp_path / "bridge.log"
    process = bridge_process(stack, Queues("no-such-events-queue", "no-such-dlq"), log)

    assert process.wait(timeout=60) == 1
    output = log.read_text()
    assert "no-such-events-queue" in output
    assert "no such queue" in output
    assert "Traceback" not in output


def show_json(stack: Stack, bucket: str, key: str) -> dict[str, Any]:
    """What ``s3meta show s3://BUCKET/KEY --json`` prints, run against the stack's database."""
    return json_report(invoke(show, f"s3://{bucket}/{key}", "--json", **stack.env))


def test_tags_set_at_upload_are_indexed_from_the_create_event_alone(
    stack: Stack, queues: Queues
) -> None:
    # S3 fires only ObjectCreated:Put for a put with Tagging= (moto adds an ObjectTagging:Put
    # that S3 does not send): wired to created events only, the tags must come with them.
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queues.events)["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bucket = stack.new_bucket()
    s3 = stack.s3()
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket=bucket, Key="tagged.txt", Body=b"t", Tagging="team=fin&tier=gold")

    stats = drain(stack, queues)

    assert stats.published == 1
    assert show_json(stack, bucket, "tagged.txt")["tags"] == {"team": "fin", "tier": "gold"}


def test_after_setup_tags_at_upload_and_later_tag_changes_both_show(
    stack: Stack, queues: Queues
) -> None:
    bucket = stack.new_bucket()
    env = {
        **stack.env,
        "S3META_EVENTS_QUEUE": queues.events,
        "S3META_DEAD_LETTER_QUEUE": queues.dead_letters,
    }
    wired = invoke(setup, "--bucket", bucket, **env)
    assert wired.exit_code == 0, wired.output
    s3 = stack.s3()
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"d", Tagging="stage=draft")
    drain(stack, queues)
    assert show_json(stack, bucket, "doc.txt")["tags"] == {"stage": "draft"}

    s3.put_object_tagging(
        Bucket=bucket,
        Key="doc.txt",
        Tagging={"TagSet": [{"Key": "stage", "Value": "final"}, {"Key": "owner", "Value": "ops"}]},
    )
    stats = drain(stack, queues)

    assert stats.published == 1  # the ObjectTagging:Put event
    assert show_json(stack, bucket, "doc.txt")["tags"] == {"stage": "final", "owner": "ops"}
    history = stack.reader.history(bucket, "doc.txt")
    assert [entry.record_type for entry in history][-1] == "UPDATE_METADATA"


def record(bucket: str, key: str) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    }


def test_the_bridge_sends_ten_tasks_to_a_request_and_the_worker_runs_them(
    stack: Stack, queues: Queues
) -> None:
    bucket = stack.new_bucket()
    s3 = stack.s3()
    keys = [f"k/{n:02}.txt" for n in range(60)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    events = Queue(stack.sqs(), queues.events)
    for start in range(0, len(keys), 3):  # 20 messages of 3 records each
        events.send(json.dumps({"Records": [record(bucket, k) for k in keys[start : start + 3]]}))
    received: list[int] = []  # messages per receive
    batches: list[int] = []  # entries per SendMessageBatch
    events_client, tasks_client = stack.sqs(), stack.sqs()
    events_client.meta.events.register(
        "after-call.sqs.ReceiveMessage",
        lambda parsed, **_: received.append(len(parsed.get("Messages", []))),
    )
    tasks_client.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: batches.append(len(params["Entries"])),
    )

    stats = drain(stack, queues, events_client, CeleryPublisher(tasks_client))

    assert stats.published == stats.deleted * 3 == len(keys)
    # Each receive's tasks go ten to a request: ceil(3 * messages / 10) requests for it.
    expected = [size for count in received if count for size in chunks(3 * count, 10)]
    assert batches == expected
    assert {row.object_key for row in stack.reader.iter_objects(ObjectFilter(bucket))} == set(keys)


def chunks(total: int, size: int) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def test_publishing_a_batch_refuses_an_unusable_event_and_sends_the_rest(stack: Stack) -> None:
    bucket = stack.new_bucket()
    for key in ("a.txt", "b.txt"):
        stack.s3().put_object(Bucket=bucket, Key=key, Body=b"x")
    events = [
        ObjectEvent(bucket, "a.txt", "ObjectCreated:Put"),
        ObjectEvent(bucket, "b.txt", "ObjectCreated:Put", event_time="not a time"),
        ObjectEvent(bucket, "b.txt", "ObjectCreated:Put", size=1),
    ]

    first, unusable, last = CeleryPublisher().publish_all(events)

    assert isinstance(unusable, InvalidTaskArguments)
    assert "unreadable event fields" in str(unusable)
    assert isinstance(first, str)
    assert isinstance(last, str)
    wait_for_tasks([first, last])
    assert {row.object_key for row in stack.reader.iter_objects(ObjectFilter(bucket))} == {
        "a.txt",
        "b.txt",
    }


def put_notified(stack: Stack, bucket: str, keys: list[str]) -> list[str]:
    """Upload ``keys`` to ``bucket``; S3's notification body of each."""
    for key in keys:
        stack.s3().put_object(Bucket=bucket, Key=key, Body=b"x")
    return [json.dumps({"Records": [record(bucket, key)]}) for key in keys]


def test_deletes_go_ten_to_a_request_across_loops_and_the_rest_at_a_graceful_stop(
    stack: Stack, queues: Queues
) -> None:
    bucket = stack.new_bucket()
    keys = [f"slow/{n:02}.txt" for n in range(12)]
    bodies = put_notified(stack, bucket, keys)
    deletes: list[int] = []  # entries per DeleteMessageBatch on the events queue
    client = stack.sqs()
    client.meta.events.register(
        "before-parameter-build.sqs.DeleteMessageBatch",
        lambda params, **_: deletes.append(len(params["Entries"])),
    )
    events = Queue(client, queues.events)
    publisher = CeleryPublisher()
    bridge = Bridge(
        events,
        DeadLetters(Queue(client, queues.dead_letters)),
        publisher,
        BridgeOptions(wait_seconds=5, visibility_timeout=120, delete_delay=50, keep_task_ids=True),
    )
    try:
        for body in bodies:  # one message a loop, as at a low, steady rate
            events.send(body)
            bridge.poll_once()
        assert deletes == [10]
        assert events.depth().in_flight == 2  # handled, their delete pending

        bridge.stop()
        stats = bridge.run()  # returns at once, deleting what is pending
    finally:
        publisher.close()

    assert deletes == [10, 2]
    assert (stats.received, stats.published, stats.deleted) == (12, 12, 12)
    assert queue_total(stack, queues.events) == 0
    wait_for_tasks(stats.task_ids)
    assert [row.object_key for row in stack.reader.iter_objects(ObjectFilter(bucket))] == keys


def test_a_killed_bridges_undeleted_messages_come_back_and_are_indexed_once(
    stack: Stack, queues: Queues, tmp_path: Path
) -> None:
    bucket = stack.new_bucket()
    keys = ["killed/a.txt", "killed/b.txt", "killed/c.txt"]
    events = Queue(stack.sqs(), queues.events)
    for body in put_notified(stack, bucket, keys):
        events.send(body)
    log = tmp_path / "bridge.log"
    # Long polls and a delete delay well past the time the test takes to kill it.
    process = bridge_process(
        stack, queues, log, "--wait-seconds", "20", "--visibility-timeout", "16",
        "--delete-delay", "8",
    )  # fmt: skip
    try:
        wait_for(lambda: b"3 awaiting delete" in log.read_bytes(), 60, "the batch to be handled")
    finally:
        process.kill()
        process.wait(timeout=30)
    assert events.depth().in_flight == 3  # published, never deleted
    wait_for(
        lambda: all(stack.reader.get(bucket, key) is not None for key in keys),
        RESULT_TIMEOUT,
        "the killed bridge's tasks",
    )

    # Their visibility timeout ends, a new bridge receives them again and deletes them.
    stats = drain(stack, queues)

    assert (stats.received, stats.published, stats.deleted) == (3, 3, 3)
    assert queue_total(stack, queues.events) == 0
    assert [row.object_key for row in stack.reader.iter_objects(ObjectFilter(bucket))] == keys
