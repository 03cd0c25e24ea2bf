"""The Lambda handler, invoked in process with the events Lambda delivers, against moto's
server (through the fault proxy) and MariaDB: rows right, exactly the failing messages
reported, junk dead-lettered with the bridge's reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from s3meta import lambda_handler, serverless
from s3meta.aws.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE, Queue, QueueMessage
from s3meta.bridge import dead_letter_reason
from s3meta.config import get_settings
from s3meta.domain.attempts import Outcome
from s3meta.domain.events import ObjectEvent, parse_body
from s3meta.integrations import powertools
from s3meta.processes import wait_for
from s3meta.serverless import RetryLater
from tests.support.faults import Fault, TcpProxy
from tests.support.lambda_events import Context, notification, s3_record, sqs_event, sqs_record
from tests.support.samples import SAMPLE_EVENTS, SHARED_EVENTS
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

# The contract's samples (tests/fixtures/events is their checked copy).
SAMPLES = SHARED_EVENTS if SHARED_EVENTS.is_dir() else SAMPLE_EVENTS
SAMPLE_BUCKET = "uploads-demo"


@dataclass
class Lambda:
    """The handler's environment: its queues and a bucket of its own."""

    stack: Stack
    events: str
    dead_letters: str
    bucket: str

    def invoke(self, event: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        return lambda_handler.handler(event, context or Context())

    def letters(self, expected: int) -> list[QueueMessage]:
        queue = Queue(self.stack.sqs(), self.dead_letters)
        found: list[QueueMessage] = []

        def arrived() -> bool:
            found.extend(queue.receive(wait_seconds=1, visibility_timeout=60))
            return len(found) >= expected

        wait_for(arrived, 30, f"{expected} dead letters")
        return found

    def record(self, body: str, **options: Any) -> dict[str, Any]:
        return sqs_record(body, queue=self.events, **options)

    def upload(self, key: str, body: bytes = b"payload") -> None:
        self.stack.s3().put_object(Bucket=self.bucket, Key=key, Body=body)


def reset_environment() -> None:
    get_settings.cache_clear()
    serverless.environment.cache_clear()


@pytest.fixture
def aws_lambda(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lambda]:
    parts = Lambda(stack, stack.new_queue("events"), stack.new_queue("events-dlq"), "")
    parts.bucket = stack.new_bucket()
    monkeypatch.setenv("S3META_EVENTS_QUEUE", parts.events)
    monkeypatch.setenv("S3META_DEAD_LETTER_QUEUE", parts.dead_letters)
    reset_environment()
    yield parts
    reset_environment()


def sample(name: str, bucket: str) -> str:
    """A sample body, for ``bucket`` instead of the samples' own."""
    return (SAMPLES / name).read_text().replace(SAMPLE_BUCKET, bucket)


def test_every_sample_body_gives_the_rows_s3_holds_and_junk_goes_to_the_dead_letter_queue(
    aws_lambda: Lambda,
) -> None:
    bodies = {path.name: sample(path.name, aws_lambda.bucket) for path in SAMPLES.glob("*.*")}
    bodies.pop("README.md")
    events: list[ObjectEvent] = []
    for body in bodies.values():
        events += parse_body(body).events
    created = {event.key for event in events if event.event_name.startswith("ObjectCreated")}
    for key in sorted(created):
        aws_lambda.upload(key)
    records = {name: aws_lambda.record(body) for name, body in bodies.items()}

    answer = aws_lambda.invoke(sqs_event(*records.values()))

    assert answer == {"batchItemFailures": []}
    reader = aws_lambda.stack.reader
    for event in events:
        row = reader.get(event.bucket, event.key)
        assert row is not None, event
        if event.key in created:
            head = aws_lambda.stack.s3().head_object(Bucket=event.bucket, Key=event.key)
            assert (row.is_deleted, row.size) == (False, head["ContentLength"]), event
        else:
            assert row.is_deleted, event
    # Unusable bodies, each with the reason the bridge would give, and whence it came.
    unusable = {
        name: reason
        for name, body in bodies.items()
        if (reason := dead_letter_reason(parse_body(body))) is not None
    }
    assert len(unusable) >= 4
    letters = aws_lambda.letters(len(unusable))
    by_body = {letter.body: letter for letter in letters}
    assert len(letters) == len(unusable)
    for name, reason in unusable.items():
        letter = by_body[bodies[name]]
        assert letter.text(REASON_ATTRIBUTE) == " ".join(reason.split())[:1000], name
        assert letter.text(SOURCE_QUEUE_ATTRIBUTE) == aws_lambda.events


def test_s3_503s_report_exactly_the_messages_they_hit_and_the_attempt_is_recorded(
    aws_lambda: Lambda,
) -> None:
    for key in ("ok-1.txt", "busy.txt", "ok-2.txt"):
        aws_lambda.upload(key)
    busy = f"/{aws_lambda.bucket}/busy.txt"
    aws_lambda.stack.faults.fail("HEAD", busy, Fault(503, "SlowDown", times=1))
    records = [
        aws_lambda.record(notification(s3_record(aws_lambda.bucket, key)), receive_count=3)
        for key in ("ok-1.txt", "busy.txt", "ok-2.txt")
    ]

    answer = aws_lambda.invoke(sqs_event(*records))

    assert answer == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    reader = aws_lambda.stack.reader
    assert reader.get(aws_lambda.bucket, "ok-1.txt") is not None
    assert reader.get(aws_lambda.bucket, "ok-2.txt") is not None
    assert reader.get(aws_lambda.bucket, "busy.txt") is None
    [attempt] = reader.attempts(aws_lambda.bucket, "busy.txt")
    assert (attempt.attempt, attempt.outcome) == (3, Outcome.RETRYING)
    assert attempt.error_type == "StorageUnavailable"

    # SQS delivers it again: the next attempt succeeds under the same task id.
    again = aws_lambda.record(
        records[1]["body"], message_id=records[1]["messageId"], receive_count=4
    )
    assert aws_lambda.invoke(sqs_event(again)) == {"batchItemFailures": []}
    attempts = reader.attempts(aws_lambda.bucket, "busy.txt")
    assert [(a.attempt, a.outcome) for a in attempts] == [
        (3, Outcome.RETRYING),
        (4, Outcome.SUCCEEDED),
    ]
    assert len({a.task_id for a in attempts}) == 1


def test_a_database_outage_reports_every_message_starts_no_other_and_loses_none(
    aws_lambda: Lambda, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = make_url(aws_lambda.stack.database_url)
    relay = TcpProxy(database.host or "127.0.0.1", database.port or 3306)
    monkeypatch.setenv(
        "S3META_DATABASE_URL",
        database.set(port=relay.port).render_as_string(hide_password=False),
    )
    reset_environment()
    keys = ["db-1.txt", "db-2.txt"]
    for key in keys:
        aws_lambda.upload(key)
    records = [aws_lambda.record(notification(s3_record(aws_lambda.bucket, key))) for key in keys]
    try:
        relay.drop_next(1000)  # every connection, for now

        answer = aws_lambda.invoke(sqs_event(*records))

        assert answer == {
            "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]
        }
        assert relay.dropped > 0
        assert all(aws_lambda.stack.reader.get(aws_lambda.bucket, key) is None for key in keys)
        # Found down at the first message: the second was not started.
        assert aws_lambda.stack.faults.count("HEAD", f"/{aws_lambda.bucket}/db-2.txt") == 0

        relay.drop_next(0)
        redelivered = [
            aws_lambda.record(r["body"], message_id=r["messageId"], receive_count=2)
            for r in records
        ]
        assert aws_lambda.invoke(sqs_event(*redelivered)) == {"batchItemFailures": []}
        for key in keys:
            assert aws_lambda.stack.reader.get(aws_lambda.bucket, key) is not None
            assert [
                a.attempt for a in aws_lambda.stack.reader.attempts(aws_lambda.bucket, key)
            ] == [2]
    finally:
        # The relay goes: its connections in the pool go with it.
        serverless.environment().indexer.store._engine.dispose()  # type: ignore[attr-defined]
        relay.stop()


def test_an_s3_trigger_and_an_eventbridge_event_index_directly_and_a_503_raises(
    aws_lambda: Lambda,
) -> None:
    s3_event = json.loads(notification(s3_record(aws_lambda.bucket, "direct.txt")))
    bridge_event = json.loads(sample("eventbridge-created.json", aws_lambda.bucket))
    bridge_key = bridge_event["detail"]["object"]["key"]
    aws_lambda.upload("direct.txt")
    aws_lambda.upload(bridge_key, b"x" * 7)
    aws_lambda.stack.faults.fail(
        "HEAD", f"/{aws_lambda.bucket}/direct.txt", Fault(503, "SlowDown", times=1)
    )

    with pytest.raises(RetryLater):
        aws_lambda.invoke(s3_event)
    assert aws_lambda.invoke(s3_event) == {"verdict": "done"}  # Lambda's async retry
    assert aws_lambda.invoke(bridge_event) == {"verdict": "done"}

    assert aws_lambda.stack.reader.get(aws_lambda.bucket, "direct.txt") is not None
    row = aws_lambda.stack.reader.get(aws_lambda.bucket, bridge_key)
    assert row is not None
    assert row.size == 7


def test_the_handler_answers_through_powertools_when_it_is_installed(aws_lambda: Lambda) -> None:
    assert powertools.batch_processor() is not None
    aws_lambda.upload("pt.txt")
    good = aws_lambda.record(notification(s3_record(aws_lambda.bucket, "pt.txt")))
    late = aws_lambda.record(notification(s3_record(aws_lambda.bucket, "pt.txt")))
    # Time enough for the first message; the second finds the cut-off reached.
    context = Context(remaining_ms=[60_000, 60_000, 60_000, 1_000])

    answer = aws_lambda.invoke(sqs_event(good, late), context)

    assert answer == {"batchItemFailures": [{"itemIdentifier": late["messageId"]}]}
