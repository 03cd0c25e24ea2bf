"""What the benchmarks share: objects in S3, notifications streamed onto a shallow queue,
scratch databases, and s3meta's bridge and worker as processes."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote_plus

import click
import sqlalchemy as sa

from db.migrations import upgrade
from s3meta.processes import BridgeProcess, WorkerProcess

AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
PROJECT = Path(__file__).resolve().parents[1]


def upload(s3: Any, bucket: str, count: int, *, versioned: bool = False) -> list[str]:
    """``count`` small objects in a new ``bucket`` (``versioned``, if asked), with keys that
    need encoding; their keys."""
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"bench/{n // 100:03d}/object {n:05d}+ü.bin" for n in range(count)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(64), Metadata={"n": key[-12:-6]})
    return keys


def notification(bucket: str, key: str) -> str:
    """The body S3 would send for an upload of ``key``."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-11-26T12:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": 64}},
    }
    return json.dumps({"Records": [record]})


class Feeder(threading.Thread):
    """Sends a notification per key, ten per request, never more than ``depth`` queued.

    moto's SQS costs O(queue depth) per call: a deep queue would measure moto, not the
    design. ``error`` holds what stopped it early, if anything did.
    """

    def __init__(
        self, sqs: Any, queue_url: str, bucket: str, keys: list[str], depth: int, poll: float
    ) -> None:
        super().__init__(daemon=True)
        self._sqs, self._queue_url, self._bucket = sqs, queue_url, bucket
        self._keys, self._depth, self._poll = keys, depth, poll
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            pending = list(self._keys)
            while pending:
                room = min(self._depth - self._queued(), 10, len(pending))
                if room <= 0:
                    time.sleep(self._poll)
                    continue
                batch, pending = pending[:room], pending[room:]
                entries = [
                    {"Id": str(n), "MessageBody": notification(self._bucket, key)}
                    for n, key in enumerate(batch)
                ]
                self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except Exception as error:  # noqa: BLE001 - reported by whoever waits for the rows
            self.error = error

    def _queued(self) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])


def feed(
    sqs: Any, queue_url: str, bucket: str, keys: list[str], depth: int, poll: float = 0.01
) -> Feeder:
    """A started ``Feeder``."""
    feeder = Feeder(sqs, queue_url, bucket, keys, depth, poll)
    feeder.start()
    return feeder


class PacedFeeder(threading.Thread):
    """Sends a notification per key at a steady ``rate`` per second, one per request.

    ``sent`` maps each key to the wall-clock time its notification was sent.
    """

    def __init__(self, sqs: Any, queue_url: str, bucket: str, keys: list[str], rate: float) -> None:
        super().__init__(daemon=True)
        self._sqs, self._queue_url, self._bucket = sqs, queue_url, bucket
        self._keys, self._rate = keys, rate
        self.sent: dict[str, float] = {}
        self.error: Exception | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            for n, key in enumerate(self._keys):
                # Paced from the start, so that a slow send does not slow the rate.
                time.sleep(max(0.0, started + n / self._rate - time.monotonic()))
                self.sent[key] = time.time()
                body = notification(self._bucket, key)
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
        except Exception as error:  # noqa: BLE001 - reported by whoever waits for the rows
            self.error = error


def wait_fed(
    condition: Callable[[], bool],
    check: Callable[[], None],
    feeder: Feeder | PacedFeeder,
    timeout: float,
    what: str,
    poll: float = 0.05,
) -> None:
    """Until ``condition``; ``check`` (which raises if a process exited) and the feeder's
    error are looked at between polls; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        check()
        if feeder.error is not None:
            raise RuntimeError(f"the feeder failed: {feeder.error}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1"
F = TypeVar("F", bound=Callable[..., object])


def mysql_option(
    help: str = "the MySQL/MariaDB server, for a scratch database",
) -> Callable[[F], F]:
    """``--mysql``: the server a benchmark makes its scratch databases on (or
    ``S3META_TEST_MYSQL_URL``, as the tests take it)."""
    return click.option(
        "--mysql",
        envvar="S3META_TEST_MYSQL_URL",
        default=DEFAULT_MYSQL,
        show_default=True,
        help=help,
    )


@contextmanager
def scratch_database(server_url: str, revision: str = "head") -> Iterator[str]:
    """A new database on ``server_url``'s server, migrated to ``revision``; dropped afterwards."""
    name = f"s3meta_bench_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(server_url)
    with server.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = f"{server_url.rstrip('/')}/{name}?charset=utf8mb4"
    try:
        upgrade(url, revision)
        yield url
    finally:
        with server.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


def queue_names(run_id: str) -> dict[str, str]:
    """s3meta's queue settings, with names of their own for one run."""
    return {
        "S3META_EVENTS_QUEUE": f"events-{run_id}",
        "S3META_DEAD_LETTER_QUEUE": f"dlq-{run_id}",
        "S3META_TASK_QUEUE": f"tasks-{run_id}",
    }


class S3metaProcesses:
    """``s3meta bridge`` and ``celery -A tasks worker`` as deployed, each configured by its env.

    The events and dead-letter queues must exist; the worker creates the task queue.
    """

    def __init__(
        self,
        bridge_env: Mapping[str, str],
        worker_env: Mapping[str, str],
        logs: Path,
        *,
        worker_pool: str,
        worker_concurrency: int,
        bridge_concurrency: int,
        bridge_args: Sequence[str] = (),
    ) -> None:
        self.worker = WorkerProcess(
            worker_env,
            logs / "worker.log",
            pool=worker_pool,
            concurrency=worker_concurrency,
            name="bench",
            cwd=PROJECT,
        )
        try:
            self.bridge = BridgeProcess(
                bridge_env,
                logs / "bridge.log",
                concurrency=bridge_concurrency,
                args=bridge_args,
                cwd=PROJECT,
            )
        except BaseException:
            self.worker.stop()
            raise

    def check(self) -> None:
        """RuntimeError if the bridge or the worker has exited."""
        if not self.bridge.running():
            raise RuntimeError(f"the bridge exited:\n{self.bridge.log()}")
        if not self.worker.describe().endswith(": running"):
            raise RuntimeError(self.worker.describe())

    def stop(self) -> None:
        self.bridge.stop()
        self.worker.stop()
