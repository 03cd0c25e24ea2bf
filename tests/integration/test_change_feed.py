"""The change feed on SQLite and MariaDB: the outbox written with the journal, taken by
relays (``db.outbox``), published to SQS and SNS on moto's server (``s3meta.aws.feed``)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
import sqlalchemy as sa

import s3meta
from db.engine import create_engine, writer_engine
from db.outbox import OutboxTable
from db.store import MetadataStore
from s3meta import composition, serverless
from s3meta.aws.feed import FeedPublisher
from s3meta.config import load_settings
from s3meta.domain.changes import PendingChange, key_hash, parse_target
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.errors import PermanentError
from s3meta.memory import MemoryFeed
from s3meta.processes import MotoServer
from s3meta.relay import Relay, run_threads
from tests.support.writes import mark_deleted, save_state

MODIFIED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
RETRIES = RetryPolicy(max_retries=3, backoff=1, backoff_max=2)
SCHEMA = json.loads((Path(s3meta.__file__).parent / "schemas" / "change-v1.json").read_text())
REGION = "us-east-1"


def write_changes(store: MetadataStore, keys: Sequence[str], rounds: int) -> None:
    """``rounds`` writes of each key, every third round a removal."""
    for n in range(rounds):
        for key in keys:
            if n % 3 == 2:
                mark_deleted(store, "b-1", key, EventInfo("ObjectRemoved:Delete", MODIFIED,
                                                          f"{n + 1:08X}"))  # fmt: skip
            else:
                state = ObjectState("b-1", key, size=n + 1, etag=f"e{n}", last_modified=MODIFIED)
                save_state(store, state, EventInfo("ObjectCreated:Put", MODIFIED, f"{n + 1:08X}"))


def journal(url: str) -> list[tuple[int, str]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT id, object_key FROM object_journal ORDER BY id")
            rows = connection.execute(query).all()
        return [(int(row[0]), row[1].decode() if isinstance(row[1], bytes) else row[1])
                for row in rows]  # fmt: skip
    finally:
        engine.dispose()


def outbox_rows(url: str) -> list[tuple[int, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT journal_id, key_hash FROM change_outbox ORDER BY id")
            return [(int(row[0]), int(row[1])) for row in connection.execute(query)]
    finally:
        engine.dispose()


@pytest.fixture
def feed_store(database_url: str) -> Iterator[MetadataStore]:
    engine = writer_engine(database_url)
    yield MetadataStore(engine, feed=True)
    engine.dispose()


def test_each_journal_entry_gets_its_outbox_row_naming_it_in_the_same_write(
    feed_store: MetadataStore, database_url: str
) -> None:
    write_changes(feed_store, ["a", "b/c é"], rounds=4)

    entries = journal(database_url)
    assert len(entries) == 8
    assert outbox_rows(database_url) == [(id_, key_hash("b-1", key)) for id_, key in entries]


def test_without_the_feed_no_outbox_row_is_written(store: MetadataStore, database_url: str) -> None:
    write_changes(store, ["a"], rounds=3)

    assert len(journal(database_url)) == 3
    assert outbox_rows(database_url) == []


class SlowFeed(MemoryFeed):
    """A topic whose requests take a while, so that relays overlap; thread-safe."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def publish(self, changes: Sequence[PendingChange]) -> dict[int, str]:
        time.sleep(0.002)
        with self._lock:
            return super().publish(changes)


def first_appearances(bodies: Sequence[dict[str, Any]]) -> dict[str, list[int]]:
    """Each key's sequences in the order they first appeared."""
    seen: set[int] = set()
    order: dict[str, list[int]] = {}
    for body in bodies:
        if body["sequence"] not in seen:
            seen.add(body["sequence"])
            order.setdefault(body["key"], []).append(body["sequence"])
    return order


@pytest.mark.mysql
def test_relays_sharing_a_mariadb_outbox_publish_every_change_in_order_per_key(
    mysql_url: str,
) -> None:
    engine = writer_engine(mysql_url)
    write_changes(MetadataStore(engine, feed=True), [f"k{n}" for n in range(8)], rounds=25)
    feed = SlowFeed()
    relays = [Relay(OutboxTable(engine), feed, RETRIES, round_size=15, drain=True,
                    idle_wait=0.01) for _ in range(4)]  # fmt: skip

    error = run_threads(relays, poll=0.05)

    engine.dispose()
    assert error is None
    entries = journal(mysql_url)
    assert {body["sequence"] for body in feed.bodies} == {id_ for id_, _ in entries}
    for key, sequences in first_appearances(feed.bodies).items():
        assert sequences == sorted(sequences), key
    assert outbox_rows(mysql_url) == []


def drain(sqs: Any, url: str, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
    """Every message body on ``url``, received and deleted, until ``expected`` came."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < expected and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = received.get("Messages", [])
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    return {"endpoint_url": moto_server.url, "region_name": REGION}


def relay_to(url: str, client: Any, topic: str) -> None:
    engine = writer_engine(url)
    try:
        publisher = FeedPublisher(client, parse_target(topic))
        publisher.check()
        Relay(OutboxTable(engine), publisher, RETRIES, drain=True).run()
    finally:
        engine.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_every_journal_entry_reaches_an_sqs_queue_as_a_message_of_the_schema(
    mysql_url: str, aws: dict[str, Any], fifo: bool
) -> None:
    engine = writer_engine(mysql_url)
    write_changes(MetadataStore(engine, feed=True), ["a", "dir/ünï code"], rounds=12)
    engine.dispose()
    sqs = boto3.client("sqs", **aws)
    name = f"feed-{uuid.uuid4().hex[:8]}" + (".fifo" if fifo else "")
    attributes: dict[Any, str] = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

    relay_to(mysql_url, sqs, url if fifo else name)

    bodies = drain(sqs, url, 24)
    assert sorted(body["sequence"] for body in bodies) == sorted(i for i, _ in journal(mysql_url))
    for body in bodies:
        jsonschema.validate(body, SCHEMA)
    if fifo:
        for key, sequences in first_appearances(bodies).items():
            assert sequences == sorted(sequences), key


@pytest.mark.mysql
def test_every_journal_entry_reaches_an_sns_topics_subscribed_queue(
    mysql_url: str, aws: dict[str, Any]
) -> None:
    engine = writer_engine(mysql_url)
    write_changes(MetadataStore(engine, feed=True), ["a", "b"], rounds=6)
    engine.dispose()
    sqs, sns = boto3.client("sqs", **aws), boto3.client("sns", **aws)
    name = f"feed-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    topic = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})  # fmt: skip

    relay_to(mysql_url, sns, topic)

    bodies = drain(sqs, url, 12)
    assert sorted(body["sequence"] for body in bodies) == sorted(i for i, _ in journal(mysql_url))
    assert outbox_rows(mysql_url) == []


def test_a_topic_that_does_not_exist_is_one_line_naming_it(aws: dict[str, Any]) -> None:
    sns = boto3.client("sns", **aws)
    topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"

    with pytest.raises(PermanentError, match=r"no-such-topic.*does not exist"):
        FeedPublisher(sns, parse_target(topic)).check()


@pytest.mark.mysql
def test_both_deployments_stores_write_the_outbox_only_with_the_topic_set(mysql_url: str) -> None:
    with_feed = composition.store(mysql_url, load_settings(change_topic="feed"))
    without = composition.store(mysql_url, load_settings())
    write_changes(with_feed, ["a"], rounds=2)
    write_changes(without, ["b"], rounds=2)

    assert [journal_id for journal_id, _ in outbox_rows(mysql_url)] == [
        id_ for id_, key in journal(mysql_url) if key == "a"
    ]


@pytest.mark.mysql
def test_the_lambda_relay_publishes_the_outbox_and_stops_when_it_is_empty(
    mysql_url: str, aws: dict[str, Any], moto_server: MotoServer
) -> None:
    write_changes(composition.store(mysql_url, load_settings(change_topic="feed")), ["a"], 5)
    sqs = boto3.client("sqs", **aws)
    name = f"feed-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    settings = load_settings(
        database_url=mysql_url, change_topic=name, aws_endpoint_url=moto_server.url
    )

    summary = serverless.relay_changes(settings, lambda: 60_000)

    assert summary.startswith("published=5 ")
    assert len(drain(sqs, url, 5)) == 5
    assert outbox_rows(mysql_url) == []


@pytest.mark.mysql
def test_a_relay_deletes_its_rows_while_another_holds_most_of_the_outbox(mysql_url: str) -> None:
    engine = writer_engine(mysql_url)
    write_changes(MetadataStore(engine, feed=True), [f"k{n}" for n in range(150)], rounds=1)
    holding, finished = threading.Event(), threading.Event()

    def hold(changes: Sequence[PendingChange]) -> list[int]:
        holding.set()
        finished.wait(timeout=20)  # keeps its 100 rows locked until the other relay is done
        return [change.outbox_id for change in changes]

    def publish_all(changes: Sequence[PendingChange]) -> list[int]:
        return [change.outbox_id for change in changes]

    first = threading.Thread(target=OutboxTable(engine).take, args=(100, hold))
    first.start()
    assert holding.wait(timeout=20)

    def take_the_rest() -> None:
        OutboxTable(engine).take(100, publish_all)
        finished.set()

    second = threading.Thread(target=take_the_rest)
    second.start()
    second.join(timeout=15)
    released = finished.is_set()
    finished.set()
    first.join(timeout=30)

    engine.dispose()
    assert released, "the second relay's deletes waited on the rows the first one held"
    assert outbox_rows(mysql_url) == []
