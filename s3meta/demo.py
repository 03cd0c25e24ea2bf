"""``s3meta demo``: the whole pipeline on one machine, with nothing to install but s3meta.

moto's server runs in this process and stands in for S3 and SQS; the database is the
embedded default (``sqlite:///s3meta.db`` here) unless the demo is given another: the
settings' ``S3META_DATABASE_URL`` may be a real one, and the demo must not write into it.
The bucket notifies the events queue, the bridge turns notifications into tasks, and a real
``celery -A tasks worker`` subprocess runs them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from rich.console import Console

from db.migrations import upgrade
from db.reader import open_reader
from s3meta import composition
from s3meta.aws.sqs import DeadLetters, Queue
from s3meta.bridge import Bridge, BridgeOptions, BridgeStats
from s3meta.config import DEFAULT_DATABASE_URL, Settings, get_settings
from s3meta.domain.event_names import CREATED, REMOVED
from s3meta.domain.records import ObjectFilter, ObjectRecord
from s3meta.errors import S3MetaError
from s3meta.masking import mask_url
from s3meta.processes import WorkerProcess, free_port
from s3meta.render import rows_table

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import EventType
    from mypy_boto3_sqs import SQSClient

BUCKET = "s3meta-demo"
RESULT_TIMEOUT = 60


@dataclass(frozen=True)
class SampleObject:
    key: str
    body: bytes
    content_type: str
    metadata: dict[str, str]


SAMPLES = (
    SampleObject(
        "photos/2026/summer trip+beach/ü.jpg",
        b"\xff\xd8\xff\xe0 not really a jpeg",
        "image/jpeg",
        # S3 carries non-ASCII metadata RFC 2047-encoded; s3meta stores it decoded.
        {"camera": "X100V", "place": "=?UTF-8?B?WsO8cmljaA==?="},
    ),
    SampleObject("reports/2026/q3.pdf", b"%PDF-1.7 quarterly", "application/pdf", {"team": "fin"}),
    SampleObject("videos/raw/clip 01.mp4", b"\x00" * 4096, "video/mp4", {}),
    SampleObject("logs/2026-11-26.log", b"started\nstopped\n", "text/plain", {"host": "web-1"}),
    SampleObject("tmp/scratch.txt", b"deleted before the demo ends", "text/plain", {}),
)
DELETED_KEY = "tmp/scratch.txt"


class DemoError(S3MetaError):
    """The demo could not run to the end."""


def run_demo(console: Console, database_url: str | None = None) -> list[ObjectRecord]:
    """Run the pipeline end to end in ``database_url`` (default: the embedded default, never
    the settings' database); returns the bucket's rows."""
    started = time.monotonic()
    configured = os.environ.get("S3META_DATABASE_URL")
    with _moto_server() as endpoint, tempfile.TemporaryDirectory(prefix="s3meta-demo-") as tmp:
        env = _demo_environment(endpoint, database_url or DEFAULT_DATABASE_URL)
        for name in [*_NOT_FOR_THE_DEMO, *_service_endpoints(os.environ)]:
            os.environ.pop(name, None)
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        demo_database = composition.database_url(settings)
        console.print(f"[bold]1.[/] moto (S3 + SQS) listening on {endpoint}")

        upgrade(demo_database)
        console.print(f"[bold]2.[/] database {mask_url(demo_database)} migrated to head")
        if configured and database_url is None:
            console.print(
                "   (S3META_DATABASE_URL is not used by the demo; "
                "`s3meta demo --database-url URL` chooses its database)"
            )

        s3, sqs = _client("s3", endpoint), _client("sqs", endpoint)
        _wire_notifications(s3, sqs, settings)
        console.print(
            f"[bold]3.[/] s3://{BUCKET} notifies SQS queue {settings.events_queue} "
            f"(dead letters: {settings.dead_letter_queue})"
        )
        log_path = Path(tmp) / "worker.log"
        worker = WorkerProcess(env, log_path, pool="threads", concurrency=4, name="demo")
        try:
            console.print(f"[bold]4.[/] celery worker running (pid {worker.pid})")
            _upload_samples(s3)
            console.print(f"[bold]5.[/] uploaded {len(SAMPLES)} objects to s3://{BUCKET}, ", end="")
            console.print(f"then deleted s3://{BUCKET}/{DELETED_KEY}")
            stats = _bridge(sqs, settings)
            console.print(
                f"[bold]6.[/] bridge: {stats.received} notifications -> {stats.published} "
                f"extract_metadata tasks ({stats.test_events} s3:TestEvent acknowledged, "
                f"{stats.dead_lettered} dead-lettered); waiting for the worker…"
            )
            _wait_for_tasks(console, worker, stats)
        finally:
            worker.stop()
    with open_reader(demo_database) as reader:
        rows = list(reader.iter_objects(ObjectFilter(BUCKET)))
    console.print(
        f"[bold]7.[/] done in {time.monotonic() - started:.1f} s; object_metadata now holds:"
    )
    console.print(rows_table(rows))
    console.print(
        f"Try: [cyan]s3meta show 's3://{BUCKET}/{SAMPLES[0].key}' --json[/] or "
        f"[cyan]s3meta list --bucket {BUCKET} --json[/]"
    )
    return rows


def _wire_notifications(s3: S3Client, sqs: SQSClient, settings: Settings) -> None:
    s3.create_bucket(Bucket=BUCKET)
    sqs.create_queue(QueueName=settings.dead_letter_queue)
    url = sqs.create_queue(QueueName=settings.events_queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["QueueArn"],
                    "Events": cast("list[EventType]", [f"s3:{CREATED}:*", f"s3:{REMOVED}:*"]),
                }
            ]
        },
    )


def _bridge(sqs: SQSClient, settings: Settings) -> BridgeStats:
    # Imported here: the Celery app reads its settings on first use, after the demo set them.
    from tasks.publisher import CeleryPublisher

    publisher = CeleryPublisher()
    bridge = Bridge(
        Queue(sqs, settings.events_queue),
        DeadLetters(Queue(sqs, settings.dead_letter_queue)),
        publisher,
        BridgeOptions(wait_seconds=1, visibility_timeout=60, drain=True, keep_task_ids=True),
    )
    try:
        return bridge.run()
    finally:
        publisher.close()


def _wait_for_tasks(console: Console, worker: WorkerProcess, stats: BridgeStats) -> None:
    from celery.result import AsyncResult

    for task_id in stats.task_ids:
        result = AsyncResult(task_id)
        try:
            outcome = result.get(timeout=RESULT_TIMEOUT)
        except Exception as exc:
            raise DemoError(
                f"task {task_id} did not succeed ({exc}); worker log:\n{worker.log()[-4000:]}"
            ) from exc
        console.print(f"   {outcome['outcome']:>9}  s3://{BUCKET}/{outcome['key']}")


def _demo_environment(endpoint: str, database_url: str) -> dict[str, str]:
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        # The worker is another process: give it the same file, not one relative to its cwd.
        relative = database_url.removeprefix("sqlite:///")
        database_url = f"sqlite:///{Path(relative).resolve()}"
    return {
        # Dummy credentials: the demo must never reach a real AWS account.
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "S3META_BROKER_URL": f"sqs://demo:demo@{endpoint.removeprefix('http://')}",
        "S3META_DATABASE_URL": database_url,
        "S3META_RESULT_BACKEND": f"db+{database_url}",
    }


# Settings that would send the demo's traffic or results somewhere real.
_NOT_FOR_THE_DEMO = (
    "S3META_DATABASE_SECRET_ARN",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
)


def _service_endpoints(environ: Mapping[str, str]) -> list[str]:
    """boto3's per-service endpoint variables (AWS_ENDPOINT_URL_SQS…): each would win over
    the demo's AWS_ENDPOINT_URL for its service."""
    return [name for name in environ if name.startswith("AWS_ENDPOINT_URL_")]


@contextmanager
def _moto_server() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise DemoError("the demo needs moto: pip install -e '.[demo]'") from exc
    from s3meta.compat.moto import make_sqs_thread_safe

    make_sqs_thread_safe()
    # moto's server logs every request through werkzeug; the demo tells its own story.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")  # type: ignore[call-overload]


def _upload_samples(s3: S3Client) -> None:
    for sample in SAMPLES:
        s3.put_object(
            Bucket=BUCKET,
            Key=sample.key,
            Body=sample.body,
            ContentType=sample.content_type,
            Metadata=sample.metadata,
        )
    s3.delete_object(Bucket=BUCKET, Key=DELETED_KEY)
