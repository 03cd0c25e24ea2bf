"""``s3meta.serverless`` on the in-memory twins: each SQS message settled by the bridge's rules,
through s3meta's own answer and through Powertools' batch utility alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from s3meta import lambda_handler, serverless
from s3meta.aws.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE, DeadLetters
from s3meta.domain.attempts import Outcome
from s3meta.domain.invocations import Cutoff, InvalidInvocation, Verdict
from s3meta.domain.objects import ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.errors import DatabaseUnavailable, StorageUnavailable
from s3meta.indexing import Indexer
from s3meta.integrations import powertools
from s3meta.memory import MemoryMetrics, MemoryObjects, MemoryQueue, MemoryStore
from s3meta.serverless import Invocation, LambdaIndexing, RetryLater
from tests.support.lambda_events import Context, notification, s3_record, sqs_event, sqs_record

BUCKET = "uploads-demo"


class DownStore(MemoryStore):
    """A database that is not there."""

    def apply(self, *_: object, **__: object) -> Any:
        raise DatabaseUnavailable('(2003, "Can\'t connect to MySQL server")')

    def record_attempt(self, *_: object) -> None:
        raise DatabaseUnavailable('(2003, "Can\'t connect to MySQL server")')


class Parts:
    def __init__(self, margin_ms: int = 1000, store: MemoryStore | None = None) -> None:
        self.objects = MemoryObjects()
        self.store = store or MemoryStore()
        self.dlq = MemoryQueue("events-dlq")
        self.indexing = LambdaIndexing(
            indexer=Indexer(
                storage=self.objects,
                store=self.store,
                metrics=MemoryMetrics(),
                retries=RetryPolicy(max_retries=3, backoff=1, backoff_max=10),
            ),
            dead_letters=DeadLetters(self.dlq),  # type: ignore[arg-type]
            events_queue="s3meta-events",
            cutoff=Cutoff(margin_ms),
        )

    def upload(self, key: str) -> None:
        self.objects.put(ObjectState(BUCKET, key, 1, "etag", datetime(2026, 11, 20, tzinfo=UTC)))


def settle_both_ways(parts: Parts, event: dict[str, object]) -> list[dict[str, object]]:
    """The answer of s3meta's own loop, then of Powertools' utility, to the same batch."""
    ours = parts.indexing.handle_batch(event["Records"], Invocation(lambda: 60_000)).response()  # type: ignore[arg-type]
    processor = powertools.batch_processor()
    assert processor is not None, "the test extra installs Powertools"
    theirs, _ = powertools.process_batch(
        processor, event, Context(), parts.indexing, Invocation(lambda: 60_000)
    )
    return [dict(ours), theirs]


def test_only_the_message_with_a_transient_failure_is_reported_for_redelivery() -> None:
    parts = Parts()
    for key in ("a", "b", "c"):
        parts.upload(key)
    failing = sqs_record(notification(s3_record(BUCKET, "b")), receive_count=2)
    event = sqs_event(
        sqs_record(notification(s3_record(BUCKET, "a"))),
        failing,
        sqs_record(notification(s3_record(BUCKET, "c"))),
    )
    parts.objects.fail(BUCKET, "b", StorageUnavailable("503"), StorageUnavailable("503"))

    answers = settle_both_ways(parts, event)

    expected = {"batchItemFailures": [{"itemIdentifier": failing["messageId"]}]}
    assert answers == [expected, expected]
    assert parts.store.get(BUCKET, "a") is not None
    assert parts.store.get(BUCKET, "b") is None
    # The attempt is the message's delivery number, under one task id on every delivery.
    attempts = parts.store.attempts_of(BUCKET, "b")
    assert [(a.attempt, a.outcome) for a in attempts] == [(2, Outcome.RETRYING)] * 2
    assert attempts[0].task_id == f"lambda-{failing['messageId']}-0"


def test_junk_is_dead_lettered_with_its_reason_and_the_source_queue() -> None:
    parts = Parts()
    junk = sqs_record("not json", queue="my-events")

    answers = settle_both_ways(parts, sqs_event(junk))

    assert answers == [{"batchItemFailures": []}] * 2
    letters = parts.dlq.receive(wait_seconds=0, visibility_timeout=30)
    assert [letter.body for letter in letters] == ["not json", "not json"]
    assert letters[0].text(REASON_ATTRIBUTE) is not None
    assert letters[0].text(REASON_ATTRIBUTE).startswith("body is not JSON")  # type: ignore[union-attr]
    assert letters[0].text(SOURCE_QUEUE_ATTRIBUTE) == "my-events"


def test_the_messages_after_the_cutoff_are_not_started_and_reported() -> None:
    parts = Parts(margin_ms=5000)
    parts.upload("a")
    first = sqs_record(notification(s3_record(BUCKET, "a")))
    later = [sqs_record(notification(s3_record(BUCKET, "a"))) for _ in range(2)]
    clock = iter([60_000, 60_000, 4_000, 4_000, 4_000])

    outcome = parts.indexing.handle_batch([first, *later], Invocation(lambda: next(clock)))

    assert outcome.verdicts == {
        first["messageId"]: Verdict.DONE,
        later[0]["messageId"]: Verdict.NOT_STARTED,
        later[1]["messageId"]: Verdict.NOT_STARTED,
    }
    assert outcome.failed == [later[0]["messageId"], later[1]["messageId"]]


def test_a_message_cut_off_midway_is_delivered_again_whole() -> None:
    parts = Parts(margin_ms=5000)
    parts.upload("a")
    record = sqs_record(notification(s3_record(BUCKET, "a"), s3_record(BUCKET, "b")))
    clock = iter([60_000, 60_000, 100])

    outcome = parts.indexing.handle_batch([record], Invocation(lambda: next(clock)))

    assert outcome.verdicts == {record["messageId"]: Verdict.RETRY}
    assert parts.store.get(BUCKET, "a") is not None


def test_a_direct_invocation_that_fails_for_now_raises_for_lambdas_retries() -> None:
    parts = Parts()
    parts.upload("a")
    parts.objects.fail(BUCKET, "a", StorageUnavailable("503"))
    event = json.loads(notification(s3_record(BUCKET, "a")))

    with pytest.raises(RetryLater, match="Lambda tries it again"):
        parts.indexing.handle_direct(event, "req-1", Invocation(lambda: 60_000))

    assert parts.indexing.handle_direct(event, "req-1", Invocation(lambda: 60_000)) is Verdict.DONE
    assert parts.store.get(BUCKET, "a") is not None


def test_the_test_event_is_acknowledged_and_nothing_is_dead_lettered() -> None:
    parts = Parts()
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET})

    answers = settle_both_ways(parts, sqs_event(sqs_record(body)))

    assert answers == [{"batchItemFailures": []}] * 2
    assert parts.dlq.bodies() == []


def test_powertools_outside_its_series_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    powertools.batch_processor.cache_clear()
    monkeypatch.setattr("importlib.metadata.version", lambda _name: "2.40.0")
    try:
        assert powertools.batch_processor() is None
    finally:
        powertools.batch_processor.cache_clear()


def test_once_the_database_is_found_down_the_batchs_other_messages_are_not_started() -> None:
    parts = Parts(store=DownStore())
    for key in ("a", "b", "c"):
        parts.upload(key)
    records = [sqs_record(notification(s3_record(BUCKET, key))) for key in ("a", "b", "c")]

    outcome = parts.indexing.handle_batch(records, Invocation(lambda: 60_000))

    assert list(outcome.verdicts.values()) == [
        Verdict.RETRY,
        Verdict.NOT_STARTED,
        Verdict.NOT_STARTED,
    ]
    assert outcome.failed == [record["messageId"] for record in records]
    assert parts.objects.looks == [(BUCKET, "a")]


@pytest.mark.parametrize("with_powertools", [True, False])
def test_the_handler_answers_the_same_with_or_without_powertools(
    monkeypatch: pytest.MonkeyPatch, with_powertools: bool
) -> None:
    parts = Parts(margin_ms=5000)
    parts.upload("a")
    monkeypatch.setattr(serverless, "environment", lambda: parts.indexing)
    if not with_powertools:
        monkeypatch.setattr(powertools, "batch_processor", lambda: None)
    done = sqs_record(notification(s3_record(BUCKET, "a")))
    late = sqs_record(notification(s3_record(BUCKET, "a")))
    context = Context(remaining_ms=[60_000, 60_000, 60_000, 1_000])

    answer = lambda_handler.handler(sqs_event(done, late), context)

    assert answer == {"batchItemFailures": [{"itemIdentifier": late["messageId"]}]}


def test_the_handler_refuses_an_event_that_is_no_invocation_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serverless, "environment", lambda: Parts().indexing)

    with pytest.raises(InvalidInvocation, match="a Lambda event is a JSON object; got str"):
        lambda_handler.handler("Records", Context())
