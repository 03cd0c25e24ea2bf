"""Both deployments at once: the Lambda handler and a real Celery worker index shuffled,
duplicated events of the same keys into one database; the table ends equal to S3."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from s3meta import lambda_handler, serverless
from s3meta.config import get_settings
from s3meta.domain.events import ObjectEvent
from s3meta.domain.objects import strip_etag
from s3meta.domain.task_call import task_kwargs
from tasks import extract_metadata
from tests.support.lambda_events import Context, notification, s3_record, sqs_event, sqs_record
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

KEYS = [f"shared/key-{n}.txt" for n in range(6)]
ROUNDS = 4  # writes per key, some of them deletes
RESULT_TIMEOUT = 60


@dataclass(frozen=True)
class Change:
    event: ObjectEvent

    def record(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"sequencer": self.event.sequencer}
        if self.event.etag is not None:
            extra |= {"eTag": self.event.etag, "size": self.event.size}
        return s3_record(self.event.bucket, self.event.key, self.event.event_name, **extra)


@pytest.fixture
def lambda_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("S3META_DEAD_LETTER_QUEUE", stack.new_queue("both-dlq"))
    get_settings.cache_clear()
    serverless.environment.cache_clear()
    yield
    get_settings.cache_clear()
    serverless.environment.cache_clear()


def mutate(stack: Stack, bucket: str, rng: random.Random) -> list[Change]:
    """Write every key ``ROUNDS`` times (puts and deletes); the events S3 would send."""
    s3 = stack.s3()
    changes: list[Change] = []
    for round_number in range(ROUNDS):
        for index, key in enumerate(KEYS):
            sequencer = f"{round_number + 1:04X}{index:02X}00000000000000"
            if rng.random() < 0.3:
                s3.delete_object(Bucket=bucket, Key=key)
                event = ObjectEvent(bucket, key, "ObjectRemoved:Delete", sequencer=sequencer)
            else:
                body = f"{key} round {round_number} {rng.random()}".encode()
                etag = strip_etag(s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"])
                event = ObjectEvent(
                    bucket, key, "ObjectCreated:Put", size=len(body), etag=etag, sequencer=sequencer
                )
            changes.append(Change(event))
    return changes


def test_lambda_and_celery_on_shuffled_duplicated_events_leave_the_table_equal_to_s3(
    stack: Stack, lambda_env: None
) -> None:
    rng = random.Random(14)
    bucket = stack.new_bucket()
    changes = mutate(stack, bucket, rng)
    deliveries = changes * 2  # at least once: every event twice
    rng.shuffle(deliveries)
    for_lambda = deliveries[::2]
    for_celery = deliveries[1::2]

    results = [
        extract_metadata.apply_async((c.event.bucket, c.event.key), task_kwargs(c.event))
        for c in for_celery
    ]
    # SQS messages of one to three records, in batches of up to ten, on two instances at once.
    messages: list[dict[str, Any]] = []
    while for_lambda:
        size = rng.randint(1, 3)
        group, for_lambda = for_lambda[:size], for_lambda[size:]
        messages.append(sqs_record(notification(*(c.record() for c in group))))
    batches = [messages[start : start + 10] for start in range(0, len(messages), 10)]
    answers: list[dict[str, Any]] = []

    def instance(mine: list[list[dict[str, Any]]]) -> None:
        for batch in mine:
            answers.append(lambda_handler.handler(sqs_event(*batch), Context()))

    threads = [threading.Thread(target=instance, args=(batches[n::2],)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RESULT_TIMEOUT)
    outcomes = [result.get(timeout=RESULT_TIMEOUT)["outcome"] for result in results]

    assert answers == [{"batchItemFailures": []}] * len(batches)
    assert set(outcomes) <= {"succeeded", "gone", "skipped"}
    s3 = stack.s3()
    listed = {item["Key"]: item for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert 0 < len(listed) < len(KEYS)  # some keys end deleted, some present
    task_ids = {a.task_id for key in KEYS for a in stack.reader.attempts(bucket, key)}
    assert {t for t in task_ids if t.startswith("lambda-")}
    assert {result.id for result in results} <= task_ids
    for key in KEYS:
        row = stack.reader.get(bucket, key)
        assert row is not None, key
        if key in listed:
            assert (row.is_deleted, row.etag, row.size) == (
                False,
                strip_etag(listed[key]["ETag"]),
                listed[key]["Size"],
            ), key
        else:
            assert row.is_deleted, key
