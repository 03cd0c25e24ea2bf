"""Throughput of the pipeline against the seed's design, measured in the same run.

Both index the same N pre-uploaded objects from S3 event notifications, against one moto
server and a scratch MariaDB database:

- seed: one process; receive one message, HeadObject, INSERT + COMMIT, delete (the design
  s3meta replaces, ``benchmarks.seed``);
- s3meta: ``s3meta bridge`` and ``celery -A tasks worker`` processes, as deployed.

A feeder thread sends the notifications, keeping the events queue at most ``--depth`` deep:
moto's SQS costs O(queue depth) per receive, so a deep queue would measure moto, not us.
``--aws-latency-ms`` puts a network's round trip in front of every S3/SQS request; without it
both designs are bound by moto's CPU per request (one moto process, one core), which this
run then mostly measures. ``benchmarks.cost`` measures what each object costs.

    .venv/bin/python -m benchmarks.pipeline --objects 500 --aws-latency-ms 15
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import sqlalchemy as sa

from benchmarks import seed
from benchmarks.harness import AWS, S3metaProcesses, feed, queue_names, scratch_database, upload
from benchmarks.latency import LatencyRelay
from db.engine import create_engine
from s3meta.processes import MotoServer, wait_for


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
    parser.add_argument("--worker-pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--worker-concurrency", type=int, default=8)
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

            seed_rate = measure_seed(s3, sqs, bucket, keys, database_url, args.depth)
            ours = measure_s3meta(sqs, bucket, keys, database_url, env, Path(tmp), args)
        finally:
            relay.stop()
            moto.stop()
    print(f"seed (1 process, 1 message at a time): {seed_rate:8.1f} objects/s")
    print(
        f"s3meta (bridge x{args.bridge_concurrency}, worker {args.worker_pool}"
        f" x{args.worker_concurrency}):"
        f" {ours:8.1f} objects/s"
    )
    print(f"ratio s3meta / seed: {ours / seed_rate:.1f}x")


def measure_seed(
    s3: Any, sqs: Any, bucket: str, keys: list[str], database_url: str, depth: int
) -> float:
    """The hand-run script s3meta replaces, one message at a time, in this process."""
    queue_url = sqs.create_queue(QueueName=f"seed-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(seed.SEED_TABLE)
    started = time.monotonic()
    feeder = feed(sqs, queue_url, bucket, keys, depth)
    with engine.connect() as connection:
        seed.index(s3, sqs, queue_url, connection, len(keys))
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
    env = {**env, **queue_names(uuid.uuid4().hex[:8])}
    events_url = sqs.create_queue(QueueName=env["S3META_EVENTS_QUEUE"])["QueueUrl"]
    sqs.create_queue(QueueName=env["S3META_DEAD_LETTER_QUEUE"])
    processes = S3metaProcesses(
        env,
        env,
        tmp,
        worker_pool=args.worker_pool,
        worker_concurrency=args.worker_concurrency,
        bridge_concurrency=args.bridge_concurrency,
    )
    engine = create_engine(database_url)
    try:
        started = time.monotonic()
        feed(sqs, events_url, bucket, keys, args.depth)
        wait_for(rows_reach(engine, bucket, len(keys)), 600, f"{len(keys)} rows")
        elapsed = time.monotonic() - started
    finally:
        processes.stop()
        engine.dispose()
    return len(keys) / elapsed


def rows_reach(engine: sa.Engine, bucket: str, count: int) -> Callable[[], bool]:
    query = sa.text("SELECT COUNT(*) FROM object_metadata WHERE bucket = :bucket")

    def reached() -> bool:
        with engine.connect() as connection:
            return int(connection.execute(query, {"bucket": bucket}).scalar_one()) >= count

    return reached


@contextmanager
def _kept(path: str) -> Iterator[str]:
    Path(path).mkdir(parents=True, exist_ok=True)
    yield path


if __name__ == "__main__":
    main()
