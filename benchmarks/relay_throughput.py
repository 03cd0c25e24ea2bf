"""The change feed's relay: messages per second from a MariaDB outbox to moto's SQS or SNS.

Fills a scratch database's journal and outbox with ``--changes`` entries over ``--keys``
keys (as workers with ``S3META_CHANGE_TOPIC`` set leave them), then runs ``--concurrency``
relay loops (``s3meta.relay.Relay`` on ``db.outbox.OutboxTable`` and
``s3meta.aws.feed.FeedPublisher``, as ``s3meta relay --drain`` runs them) until the outbox
is empty, against moto's server in its own process, while a consumer thread receives and
deletes the messages (moto's SendMessageBatch slows with every message a queue holds: an
unread queue would measure that). Reports messages/s, and the CPU seconds of this process
(relay and consumer) and of moto: on a machine of few cores moto's share bounds the
figure, not the relay.

    .venv/bin/python -m benchmarks.relay_throughput --changes 5000 --target sqs
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import click
import sqlalchemy as sa

from benchmarks.figures import table
from benchmarks.harness import AWS, mysql_option, scratch_database
from benchmarks.procstat import machine_busy, tree_cpu
from db.engine import create_engine, writer_engine
from db.models import Base
from db.outbox import OutboxTable
from s3meta.aws.feed import FeedPublisher
from s3meta.domain.changes import key_hash, parse_target
from s3meta.domain.retries import RetryPolicy
from s3meta.processes import MotoServer
from s3meta.relay import Relay, run_threads

_CHUNK = 1000
APPLIED = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def fill(url: str, changes: int, keys: int) -> None:
    """``changes`` journal entries, round robin over ``keys`` keys, each with its outbox row."""
    journal = Base.metadata.tables["object_journal"]
    outbox = Base.metadata.tables["change_outbox"]
    engine = create_engine(url)
    with engine.begin() as connection:
        for start in range(0, changes, _CHUNK):
            rows = [
                {
                    "id": n + 1,
                    "bucket": "relay-bench",
                    "object_key": f"bench/{n % keys:05d}/object ü.bin",
                    "record_type": "CREATE",
                    "etag": '"0123456789abcdef0123456789abcdef"',
                    "size": 64,
                    "sequencer": f"{n:016X}",
                    "event_name": "ObjectCreated:Put",
                    "event_time": APPLIED,
                    "applied_at": APPLIED,
                    "task_id": str(uuid.uuid4()),
                }
                for n in range(start, min(changes, start + _CHUNK))
            ]
            connection.execute(journal.insert(), rows)
            connection.execute(
                outbox.insert(),
                [
                    {
                        "journal_id": row["id"],
                        "key_hash": key_hash("relay-bench", str(row["object_key"])),
                    }
                    for row in rows
                ],
            )
    engine.dispose()


def target(kind: str, moto: MotoServer) -> tuple[Any, str, str]:
    """(client to publish with, S3META_CHANGE_TOPIC, the SQS queue URL messages land on)."""
    options: dict[str, Any] = {"endpoint_url": moto.url, "region_name": AWS["AWS_REGION"]}
    sqs = boto3.client("sqs", **options)
    name = f"feed-{uuid.uuid4().hex[:8]}"
    if kind == "sns":
        sns = boto3.client("sns", **options)
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        topic = sns.create_topic(Name=name)["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"],
                      Attributes={"RawMessageDelivery": "true"})  # fmt: skip
        return sns, topic, url
    if kind == "fifo":
        fifo = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})
        return sqs, fifo["QueueUrl"], fifo["QueueUrl"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return sqs, url, url


class Consumer(threading.Thread):
    """Receives and deletes messages off ``url`` until ``expected`` came or it is stopped."""

    def __init__(self, sqs: Any, url: str, expected: int) -> None:
        super().__init__(daemon=True)
        self.sqs, self.url, self.expected = sqs, url, expected
        self.received = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while self.received < self.expected and not self.stop.is_set():
            answer = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            messages = answer.get("Messages", [])
            if messages:
                self.received += len(messages)
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                        for n, message in enumerate(messages)
                    ],
                )


@click.command()
@click.option("--changes", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--keys", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--target", "kind", type=click.Choice(["sqs", "fifo", "sns"]), default="sqs",
              show_default=True)  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 32), default=1, show_default=True)
@click.option("--round-size", type=click.IntRange(1, 1000), default=100, show_default=True)
@mysql_option()
def main(changes: int, keys: int, kind: str, concurrency: int, round_size: int, mysql: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    os.environ.update(AWS)
    with tempfile.TemporaryDirectory(prefix="s3meta-relay-bench-") as folder:
        moto = MotoServer(Path(folder) / "moto.log")
        try:
            with scratch_database(mysql) as url:
                fill(url, changes, keys)
                client, topic, queue_url = target(kind, moto)
                publisher = FeedPublisher(client, parse_target(topic))
                engine = writer_engine(url)
                retries = RetryPolicy(max_retries=5, backoff=1, backoff_max=5)
                relays = [Relay(OutboxTable(engine), publisher, retries, round_size=round_size,
                                drain=True) for _ in range(concurrency)]  # fmt: skip
                sqs = boto3.client("sqs", endpoint_url=moto.url, region_name=AWS["AWS_REGION"])
                consumer = Consumer(sqs, queue_url, changes)
                moto_before, busy_before = tree_cpu(moto.pid).total, machine_busy()
                cpu_before, started = time.process_time(), time.monotonic()
                consumer.start()
                error = run_threads(relays, poll=0.05)
                seconds = time.monotonic() - started
                consumer.join(timeout=60)
                consumer.stop.set()
                relay_cpu = time.process_time() - cpu_before
                moto_cpu = tree_cpu(moto.pid).total - moto_before
                busy = machine_busy() - busy_before
                if error is not None:
                    raise error
                with engine.connect() as connection:
                    left = connection.execute(sa.text("SELECT COUNT(*) FROM change_outbox"))
                    pending = int(left.scalar_one())
                engine.dispose()
        finally:
            moto.stop()
    if pending or consumer.received != changes:
        raise click.ClickException(
            f"{pending} rows left in the outbox, {consumer.received} messages received"
        )
    click.echo(
        table(
            [
                [f"relay: {changes} changes over {keys} keys to {kind}", "figure"],
                ["relay loops x rows per round", f"{concurrency} x {round_size}"],
                ["seconds", f"{seconds:.2f}"],
                ["messages/s", f"{changes / seconds:.0f}"],
                ["relay and consumer CPU s (this process)", f"{relay_cpu:.2f}"],
                ["moto CPU s", f"{moto_cpu:.2f}"],
                ["moto's share of the machine's busy CPU", f"{moto_cpu / busy:.0%}"],
                ["machine busy CPU s (all processes)", f"{busy:.2f}"],
                ["messages received", str(consumer.received)],
            ]
        )
    )


if __name__ == "__main__":
    main()
