"""Throughput of the pipeline against the seed's design, measured in the same run.

Both index the same N pre-uploaded objects from S3 event notifications, against one moto
server and a scratch MariaDB database:

- seed: one process; receive one message, HeadObject, INSERT + COMMIT, delete (the design
  s3meta replaces);
- s3meta: ``s3meta bridge`` and ``celery -A tasks worker`` processes, as deployed.

A feeder thread sends the notifications, keeping the events queue at most ``--depth`` deep:
moto's SQS costs O(queue depth) per receive, so a deep queue would measure moto, not us.
``--aws-latency-ms`` puts a network's round trip in front of every S3/SQS request; without it
both designs are bound by moto's CPU per request (one moto process, one core), which this
run then mostly measures.

    .venv/bin/python -m benchmarks.pipeline --objects 500 --aws-latency-ms 15
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import sqlalchemy as sa

from benchmarks.latency import LatencyRelay
from db.engine import create_engine
from db.migrations import upgrade
from s3meta.processes import MotoServer, WorkerProcess, wait_for

AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
SEED_TABLE = sa.text(
    "CREATE TABLE seed_metadata (id BIGINT AUTO_INCREMENT PRIMARY KEY, bucket VARCHAR(63),"
    " object_key VARBINARY(1024), size BIGINT, etag VARCHAR(128), content_type VARCHAR(255),"
    " last_modified DATETIME(6), metadata TEXT)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=500)
    parser.add_argument("--depth", type=int, default=20, help="most messages the feeder queues")
    parser.add_argument(
        "--aws-latency-ms",
        type=float,
        default=0.0,
        help="delay added to every S3/SQS request, as a network to AWS would (0: moto's CPU "
        "is all that is measured)",
    )
    parser.add_argument("--worker-pool", default="prefork", choices=["threads", "prefork"])
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--bridge-concurrency", type=int, default=2)
    parser.add_argument(
        "--mysql", default=os.environ.get("S3META_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1")
    )
    args = parser.parse_args()

    logs = os.environ.get("BENCH_KEEP_LOGS")  # a directory to keep the worker and bridge logs in
    workspace = _kept(logs) if logs else tempfile.TemporaryDirectory(prefix="s3meta-bench-")
    with workspace as tmp, scratch_database(args.mysql) as database_url:
        moto = MotoServer(Path(tmp) / "moto.log")
        relay = LatencyRelay("127.0.0.1", moto.port, args.aws_latency_ms / 1000)
        try:
            env = {**AWS, "AWS_ENDPOINT_URL": relay.url, "S3META_DATABASE_URL": database_url}
            os.environ.update(env)
            s3 = boto3.client("s3", endpoint_url=relay.url)
            sqs = boto3.client("sqs", endpoint_url=relay.url)
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            keys = upload(s3, bucket, args.objects)
            print(
                f"{args.objects} objects in s3://{bucket}; events queue kept <= {args.depth} deep;"
                f" {args.aws_latency_ms:g} ms added to each AWS request"
            )

            seed = measure_seed(s3, sqs, bucket, keys, database_url, args.depth)
            ours = measure_s3meta(sqs, bucket, keys, database_url, env, Path(tmp), args)
        finally:
            relay.stop()
            moto.stop()
    print(f"seed (1 process, 1 message at a time): {seed:8.1f} objects/s")
    print(
        f"s3meta (bridge x{args.bridge_concurrency}, worker {args.worker_pool}"
        f" x{args.worker_concurrency}):"
        f" {ours:8.1f} objects/s"
    )
    print(f"ratio s3meta / seed: {ours / seed:.1f}x")


def upload(s3: Any, bucket: str, count: int) -> list[str]:
    s3.create_bucket(Bucket=bucket)
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


def feed(sqs: Any, queue_url: str, bucket: str, keys: list[str], depth: int) -> threading.Thread:
    """Send a notification per key in the background, never more than ``depth`` queued."""

    def run() -> None:
        pending = list(keys)
        while pending:
            queued = int(
                sqs.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]["ApproximateNumberOfMessages"]
            )
            room = min(depth - queued, 10, len(pending))
            if room <= 0:
                time.sleep(0.01)
                continue
            batch, pending = pending[:room], pending[room:]
            sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(n), "MessageBody": notification(bucket, key)}
                    for n, key in enumerate(batch)
                ],
            )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def measure_seed(
    s3: Any, sqs: Any, bucket: str, keys: list[str], database_url: str, depth: int
) -> float:
    """The hand-run script s3meta replaces, one message at a time."""
    from urllib.parse import unquote_plus

    queue_url = sqs.create_queue(QueueName=f"seed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(SEED_TABLE)
    insert = sa.text(
        "INSERT INTO seed_metadata (bucket, object_key, size, etag, content_type, last_modified,"
        " metadata) VALUES (:bucket, :key, :size, :etag, :type, :modified, :metadata)"
    )
    started = time.monotonic()
    feeder = feed(sqs, queue_url, bucket, keys, depth)
    done = 0
    with engine.connect() as connection:
        while done < len(keys):
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in messages:
                record = json.loads(message["Body"])["Records"][0]["s3"]
                key = unquote_plus(record["object"]["key"])
                head = s3.head_object(Bucket=record["bucket"]["name"], Key=key)
                connection.execute(
                    insert,
                    {
                        "bucket": bucket,
                        "key": key.encode(),
                        "size": head["ContentLength"],
                        "etag": head["ETag"].strip('"'),
                        "type": head.get("ContentType"),
                        "modified": head["LastModified"].replace(tzinfo=None),
                        "metadata": json.dumps(head.get("Metadata", {})),
                    },
                )
                connection.commit()
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                done += 1
    elapsed = time.monotonic() - started
    feeder.join(timeout=10)
    engine.dispose()
    return len(keys) / elapsed


def measure_s3meta(
    sqs: Any,
    bucket: str,
    keys: list[str],
    database_url: str,
    env: dict[str, str],
    tmp: Path,
    args: argparse.Namespace,
) -> float:
    run_id = uuid.uuid4().hex[:8]
    env = {
        **env,
        "S3META_EVENTS_QUEUE": f"events-{run_id}",
        "S3META_DEAD_LETTER_QUEUE": f"dlq-{run_id}",
        "S3META_TASK_QUEUE": f"tasks-{run_id}",
    }
    events_url = sqs.create_queue(QueueName=env["S3META_EVENTS_QUEUE"])["QueueUrl"]
    sqs.create_queue(QueueName=env["S3META_DEAD_LETTER_QUEUE"])
    worker = WorkerProcess(
        env,
        tmp / "worker.log",
        pool=args.worker_pool,
        concurrency=args.worker_concurrency,
        name="bench",
    )
    bridge = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "s3meta.cli", "bridge", "--concurrency",
         str(args.bridge_concurrency)],
        env={**os.environ, **env},
        stdout=(tmp / "bridge.log").open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    engine = create_engine(database_url)
    try:
        wait_for(lambda: b"bridge: " in (tmp / "bridge.log").read_bytes(), 30, "the bridge")
        started = time.monotonic()
        feed(sqs, events_url, bucket, keys, args.depth)
        wait_for(rows_reach(engine, bucket, len(keys)), 600, f"{len(keys)} rows")
        elapsed = time.monotonic() - started
    finally:
        bridge.terminate()
        bridge.wait(timeout=60)
        worker.stop()
        engine.dispose()
    return len(keys) / elapsed


def rows_reach(engine: sa.Engine, bucket: str, count: int) -> Callable[[], bool]:
    query = sa.text("SELECT COUNT(*) FROM object_metadata WHERE bucket = :bucket")

    def reached() -> bool:
        with engine.connect() as connection:
            return int(connection.execute(query, {"bucket": bucket}).scalar_one()) >= count

    return reached


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    name = f"s3meta_bench_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(server_url)
    with server.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    url = f"{server_url.rstrip('/')}/{name}?charset=utf8mb4"
    try:
        upgrade(url)
        yield url
    finally:
        with server.begin() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        server.dispose()


@contextmanager
def _kept(path: str) -> Iterator[str]:
    Path(path).mkdir(parents=True, exist_ok=True)
    yield path


if __name__ == "__main__":
    main()
