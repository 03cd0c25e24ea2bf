"""What one object costs on AWS Lambda: the handler's figures per object, measured, then
priced at AWS's list prices.

The handler (``s3meta.lambda_handler.handler``) is invoked in this process with SQS batches
as the event source mapping delivers them (``--batch-size`` messages of one upload each)
against moto's server and a scratch MariaDB database, after one warm-up batch that builds the
execution environment's parts (the cold start, reported apart). Per object:

- CPU ms of this process (user + system: the handler's own work; moto and MariaDB run in
  other processes) and wall ms against the local stand-ins;
- AWS requests the handler sends, by operation (counted on its boto3 clients), and the
  database round trips (statements and COMMITs sent on its engine);
- billed duration modelled for AWS: CPU ms + requests x ``--aws-latency-ms`` + round trips
  x ``--db-latency-ms`` (in-region round trips; moto and a local MariaDB answer faster).

Then the cost per million objects for the Lambda deployment, and for EC2 + Celery from the
CPU per object that ``benchmarks.cost`` measures for the bridge and worker (``--ec2-cpu-ms``),
at the prices in ``PRICES`` (stated with their date).

    .venv/bin/python -m benchmarks.lambda_cost --objects 300 --batch-size 10
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import click
from sqlalchemy import event

from benchmarks.harness import AWS, mysql_option, notification, scratch_database, upload
from s3meta import lambda_handler, serverless
from s3meta.config import get_settings
from s3meta.processes import MotoServer

# AWS list prices, us-east-1, on-demand, as published on the services' pricing pages and known
# to the author when this was written (2026-12-03); this machine cannot reach the pages to
# check them again. Change them here for another region or a new price list.
PRICES = {
    "as_of": "2026-12-03",
    "region": "us-east-1",
    "lambda_gb_second_x86": 0.0000166667,
    "lambda_gb_second_arm": 0.0000133334,
    "lambda_per_million_requests": 0.20,
    "sqs_per_million_requests": 0.40,  # standard queue, past the free tier; 64 KiB chunks
    "s3_get_per_thousand": 0.0004,  # GET class: HeadObject, GetObjectTagging
    "ec2_c7g_large_hour": 0.0725,  # 2 vCPU (Graviton3), the worker node's size here
}
# Lambda bills duration in 1 ms steps; a batch's invocation pays the whole batch.
MIN_BILLED_MS = 1


@dataclass
class Figures:
    objects: int
    batch_size: int
    cold_start_ms: float
    cpu_ms: float
    wall_ms: float
    requests: dict[str, float]
    db_round_trips: float
    modelled_ms: float
    failures: int


def measure(objects: int, batch_size: int, aws_ms: float, db_ms: float, mysql: str) -> Figures:
    with tempfile.TemporaryDirectory() as folder, scratch_database(mysql) as database_url:
        moto = MotoServer(Path(folder) / "moto.log")
        try:
            return _measure(moto.url, database_url, objects, batch_size, aws_ms, db_ms)
        finally:
            moto.stop()


def _measure(
    endpoint: str, database_url: str, objects: int, batch_size: int, aws_ms: float, db_ms: float
) -> Figures:
    os.environ.update(AWS)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["S3META_DATABASE_URL"] = database_url
    os.environ["S3META_DEAD_LETTER_QUEUE"] = f"bench-dlq-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    keys = upload(s3, bucket, objects + batch_size)
    boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1").create_queue(
        QueueName=os.environ["S3META_DEAD_LETTER_QUEUE"]
    )
    get_settings.cache_clear()
    serverless.environment.cache_clear()
    batches = [
        [_record(bucket, key) for key in keys[start : start + batch_size]]
        for start in range(0, len(keys), batch_size)
    ]
    started = time.perf_counter()
    lambda_handler.handler({"Records": batches[0]}, None)  # builds the parts: the cold start
    cold_ms = (time.perf_counter() - started) * 1000
    requests, trips = _count(serverless.environment())
    failures = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in batches[1:]:
        answer = lambda_handler.handler({"Records": batch}, None)
        failures += len(answer["batchItemFailures"])
    cpu_ms = (time.process_time() - cpu) * 1000 / objects
    wall_ms = (time.perf_counter() - wall) * 1000 / objects
    per_object = {name: count / objects for name, count in sorted(requests.items())}
    round_trips = trips["n"] / objects
    modelled = cpu_ms + sum(per_object.values()) * aws_ms + round_trips * db_ms
    return Figures(
        objects, batch_size, cold_ms, cpu_ms, wall_ms, per_object, round_trips, modelled, failures
    )


def _record(bucket: str, key: str) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench",
        "body": notification(bucket, key),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3meta-events",
    }


def _count(indexing: serverless.LambdaIndexing) -> tuple[Counter[str], Counter[str]]:
    """Counters of the AWS requests and database round trips the handler sends from now on."""
    requests: Counter[str] = Counter()
    trips: Counter[str] = Counter()
    clients = [indexing.indexer.storage._client, indexing.dead_letters.queue._client]  # type: ignore[attr-defined]

    def sent(model: Any, **_: Any) -> None:
        requests[model.name] += 1

    for client in clients:
        client.meta.events.register("before-call.*.*", sent)
    engine = indexing.indexer.store._engine  # type: ignore[attr-defined]

    def statement(*_: Any) -> None:
        trips["n"] += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", statement)
    return requests, trips


def lambda_cost(figures: Figures, memory_mb: int, arm: bool) -> dict[str, float]:
    """Dollars per million objects on Lambda, by item."""
    per_gb_s = PRICES["lambda_gb_second_arm" if arm else "lambda_gb_second_x86"]
    assert isinstance(per_gb_s, float)
    batch_ms = max(MIN_BILLED_MS, round(figures.modelled_ms * figures.batch_size))
    invocations = 1_000_000 / figures.batch_size
    s3_gets = sum(n for name, n in figures.requests.items() if name.startswith(("Head", "Get")))
    return {
        "lambda duration": invocations * batch_ms / 1000 * memory_mb / 1024 * per_gb_s,
        "lambda requests": invocations / 1_000_000 * _price("lambda_per_million_requests"),
        # The mapping's ReceiveMessage and DeleteMessageBatch per batch; S3's SendMessage.
        "sqs requests": (invocations * 2 + 1_000_000) / 1e6 * _price("sqs_per_million_requests"),
        "s3 requests": s3_gets * 1_000_000 / 1000 * _price("s3_get_per_thousand"),
    }


def ec2_cost(cpu_ms: float, requests: float, utilisation: float) -> dict[str, float]:
    """Dollars per million objects on EC2 + Celery at ``cpu_ms`` per object, the instance
    kept ``utilisation`` busy, and ``requests`` SQS + S3 requests per object."""
    core_hours = 1_000_000 * cpu_ms / 1000 / 3600 / utilisation
    return {
        "ec2 instance": core_hours / 2 * _price("ec2_c7g_large_hour"),
        "aws requests": requests * _price("sqs_per_million_requests"),
    }


def _price(name: str) -> float:
    value = PRICES[name]
    assert isinstance(value, float)
    return value


def report(figures: Figures, memory_mb: int, args: dict[str, Any]) -> str:
    lines = [
        f"Lambda handler, {figures.objects} objects in batches of {figures.batch_size} "
        f"(failures reported: {figures.failures})",
        f"  cold start (building the parts, first batch): {figures.cold_start_ms:.0f} ms",
        f"  CPU per object: {figures.cpu_ms:.2f} ms; "
        f"wall per object here: {figures.wall_ms:.2f} ms",
        "  AWS requests per object: "
        + ", ".join(f"{name} {n:.2f}" for name, n in figures.requests.items()),
        f"  database round trips per object: {figures.db_round_trips:.2f}",
        f"  modelled billed ms per object in AWS: {figures.modelled_ms:.1f} "
        f"(CPU + {args['aws_latency_ms']:g} ms per AWS request + {args['db_latency_ms']:g} ms "
        "per database round trip)",
        f"Prices ({PRICES['region']}, list, as of {PRICES['as_of']}): "
        + ", ".join(f"{k}={v}" for k, v in PRICES.items() if k not in ("as_of", "region")),
    ]
    for arm in (False, True):
        cost = lambda_cost(figures, memory_mb, arm)
        items = ", ".join(f"{name} ${value:.3f}" for name, value in cost.items())
        lines.append(
            f"Lambda {'arm64' if arm else 'x86_64'} {memory_mb} MB per million objects: "
            f"${sum(cost.values()):.2f} ({items})"
        )
    if args["ec2_cpu_ms"]:
        cost = ec2_cost(args["ec2_cpu_ms"], args["ec2_requests"], args["ec2_utilisation"])
        items = ", ".join(f"{name} ${value:.3f}" for name, value in cost.items())
        lines.append(
            f"EC2 + Celery per million objects at {args['ec2_cpu_ms']:g} CPU ms and "
            f"{args['ec2_requests']:g} AWS requests per object, {args['ec2_utilisation']:.0%} "
            f"busy: ${sum(cost.values()):.2f} ({items})"
        )
    return "\n".join(lines)


@click.command()
@click.option("--objects", type=click.IntRange(min=1, max=300), default=300, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1, max=10), default=10, show_default=True)
@click.option(
    "--memory-mb", type=click.IntRange(min=128, max=10240), default=512, show_default=True
)
@click.option("--aws-latency-ms", type=float, default=10, show_default=True)
@click.option("--db-latency-ms", type=float, default=1.5, show_default=True)
@click.option(
    "--ec2-cpu-ms",
    type=float,
    default=0,
    help="CPU ms per object of the bridge and worker (benchmarks.cost's figure); 0: none",
)
@click.option("--ec2-requests", type=float, default=0, help="their AWS requests per object")
@click.option("--ec2-utilisation", type=click.FloatRange(0.05, 1), default=0.5, show_default=True)
@mysql_option()
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(
    objects: int, batch_size: int, memory_mb: int, mysql: str, json_path: Path | None, **args: Any
) -> None:
    figures = measure(objects, batch_size, args["aws_latency_ms"], args["db_latency_ms"], mysql)
    click.echo(report(figures, memory_mb, args))
    if json_path:
        json_path.write_text(json.dumps({"figures": asdict(figures), "prices": PRICES}, indent=2))


if __name__ == "__main__":
    main()
