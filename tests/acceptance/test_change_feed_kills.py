"""The change feed under kill -9 of the relay: real workers index puts, overwrites and
deletes into MariaDB with the feed on, while ``s3meta relay`` is killed with SIGKILL again
and again mid-stream and started again. Then a last relay drains the outbox: every journal
entry is on the FIFO queue at least once, none is missing, and each key's changes came in
commit order."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from db.engine import create_engine
from s3meta.processes import RelayProcess, wait_for
from tests.support.database import ROOT, migrate, scratch_mysql_database
from tests.support.stack import Stack
from tests.support.workers import send, worker_on

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(240)]

KEYS = 24
OPERATIONS = 240  # after a first put of every key
PRODUCE_SECONDS = 15
KILL_EVERY = (0.6, 1.6)  # seconds a relay lives after it is ready
MIN_KILLS = 5
SEED = 20261203


def count(engine: sa.Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


class Producer(threading.Thread):
    """S3 operations straight to moto, each followed by its task, spread over a while."""

    def __init__(self, stack: Stack, bucket: str, queue: str) -> None:
        super().__init__(daemon=True)
        self.stack, self.bucket, self.queue = stack, bucket, queue
        self.tasks = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(SEED)
        keys = [f"feed/{n}/k é+{n}" for n in range(KEYS)]
        plan = [("put", key) for key in keys]
        plan += [
            (rng.choice(("put", "put", "delete")), rng.choice(keys)) for _ in range(OPERATIONS)
        ]
        s3 = self.stack.s3()
        started = time.monotonic()
        try:
            for n, (kind, key) in enumerate(plan):
                time.sleep(max(0.0, started + n * PRODUCE_SECONDS / len(plan) - time.monotonic()))
                if kind == "put":
                    s3.put_object(Bucket=self.bucket, Key=key, Body=f"{n}".encode())
                    name = "ObjectCreated:Put"
                else:
                    s3.delete_object(Bucket=self.bucket, Key=key)
                    name = "ObjectRemoved:Delete"
                now = datetime.now(UTC).isoformat()
                send(self.queue, self.bucket, key, event_name=name, event_time=now)
                self.tasks += 1
        except BaseException as exc:
            self.error = exc


@pytest.fixture
def feed_database() -> Iterator[str]:
    with scratch_mysql_database() as url:
        migrate(url)
        yield url


def received(sqs: Any, url: str, expected: set[int], timeout: float = 60) -> list[dict[str, Any]]:
    """Message bodies off ``url``, received and deleted, until every ``expected`` came."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not expected <= {b["sequence"] for b in bodies} and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = answer.get("Messages", [])
        for message in messages:
            bodies.append(json.loads(message["Body"]))
        if messages:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                for n, m in enumerate(messages)])  # fmt: skip
    return bodies


def test_every_journal_entry_reaches_the_queue_in_key_order_with_the_relay_killed_again_and_again(
    stack: Stack, feed_database: str, tmp_path: Path
) -> None:
    sqs = stack.sqs()
    topic = sqs.create_queue(QueueName=f"feed-{uuid.uuid4().hex[:8]}.fifo",
                             Attributes={"FifoQueue": "true"})["QueueUrl"]  # fmt: skip
    bucket = stack.new_bucket()
    engine = create_engine(feed_database)
    env = {**stack.env, "S3META_DATABASE_URL": feed_database, "S3META_CHANGE_TOPIC": topic}
    kills: list[int] = []  # outbox rows pending at each kill
    during = 0  # kills while the producer still ran: mid-stream
    with worker_on(stack, feed_database, tmp_path / "worker.log", concurrency=4,
                   S3META_CHANGE_TOPIC=topic) as (_, queue):  # fmt: skip
        producer = Producer(stack, bucket, queue)
        producer.start()
        rng = random.Random(SEED)
        for life in range(200):
            relay = RelayProcess(env, tmp_path / f"relay-{life}.log", args=["--round-size", "10"],
                                 cwd=ROOT)  # fmt: skip
            time.sleep(rng.uniform(*KILL_EVERY))  # a relay's random life span, not a wait
            kills.append(count(engine, "SELECT COUNT(*) FROM change_outbox"))
            during += producer.is_alive()
            relay.kill()
            if not producer.is_alive() and len(kills) >= MIN_KILLS:
                break
        producer.join(timeout=30)
        assert producer.error is None
        wait_for(
            lambda: (
                count(engine, "SELECT COUNT(*) FROM task_attempts WHERE outcome <> 'retrying'")
                >= producer.tasks
            ),
            90,
            "the workers to finish every task",
        )
    last = RelayProcess(env, tmp_path / "relay-last.log", args=["--drain"], cwd=ROOT)
    assert last.wait(timeout=60) == 0, last.log()

    with engine.connect() as connection:
        journal = connection.execute(sa.text("SELECT id, object_key FROM object_journal")).all()
    assert count(engine, "SELECT COUNT(*) FROM change_outbox") == 0
    engine.dispose()
    bodies = received(sqs, topic, {row.id for row in journal})
    assert {b["sequence"] for b in bodies} == {row.id for row in journal}
    assert len(journal) >= KEYS
    first_seen: dict[str, list[int]] = {}
    seen: set[int] = set()
    for body in bodies:
        if body["sequence"] not in seen:
            seen.add(body["sequence"])
            first_seen.setdefault(body["key"], []).append(body["sequence"])
    for key, sequences in first_seen.items():
        assert sequences == sorted(sequences), key
    assert len(kills) >= MIN_KILLS
    assert during >= MIN_KILLS - 1, f"{during} of {len(kills)} kills while changes streamed in"
    print(f"change feed: {len(journal)} journal entries, {len(bodies)} messages, "
          f"relay killed {len(kills)} times (outbox rows then: {kills})")  # fmt: skip
