"""``s3meta stats``: rows per bucket, recent attempts, and queue depths and ages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import click
from rich.table import Table
from rich.text import Text

from db.reader import open_reader
from s3meta import composition
from s3meta.aws.sqs import Queue, pipeline_queues
from s3meta.cli.errors import one_line_errors
from s3meta.cli.params import bucket_name
from s3meta.cli.query import stdout_console
from s3meta.config import Settings, get_settings
from s3meta.domain.attempts import Outcome
from s3meta.domain.records import BucketRows
from s3meta.domain.terminal import printable
from s3meta.domain.times import format_age
from s3meta.errors import S3MetaError
from s3meta.operations.stats import QueueReport, collect_stats
from s3meta.render import stats_to_json, titled_table

_MISSING = "-"
_COLUMN_GAP = 2


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--bucket",
    metavar="BUCKET",
    callback=bucket_name,
    help="Rows and attempts of this bucket only (the queues are shared by all buckets).",
)
@click.option(
    "--peek/--no-peek",
    default=True,
    show_default=True,
    help="Find each queue's oldest message by receiving up to 10 with a visibility timeout "
    "of 0. Each peek counts as a receive toward a redrive policy's maxReceiveCount: peeking "
    "again and again at messages nobody consumes can move them to the dead-letter queue "
    "(requeue --dead-letters brings them back).",
)
@one_line_errors()
def stats(as_json: bool, bucket: str | None, peek: bool) -> None:
    """Rows per bucket, recent failures and retries, and queue depths and ages: lag at a glance.

    SQS has no attribute for the age of a queue's oldest message (that is CloudWatch's
    ApproximateAgeOfOldestMessage), so it is estimated from a sample: up to 10 visible
    messages received with a visibility timeout of 0 (they stay available to consumers),
    the oldest SentTimestamp among them. Messages in flight or delayed are not sampled.
    """
    settings = get_settings()
    unavailable: str | None = None
    with open_reader(composition.read_database_url(settings)) as reader:
        try:
            queues = _queues(settings)
        except S3MetaError as exc:
            queues, unavailable = [], str(exc)
        report = collect_stats(reader, queues, bucket=bucket, peek=peek, now=datetime.now(UTC))
    if unavailable is not None:
        report = replace(report, queues_unavailable=unavailable)
    if as_json:
        click.echo(json.dumps(stats_to_json(report)))
    else:
        console = stdout_console()
        console.print(_buckets_table(report.buckets))
        console.print()
        console.print(_attempts_table(report.attempts))
        if report.queues_unavailable is None:
            console.print()
            console.print(_queues_table(report.queues, report.generated_at))
    if report.queues_unavailable is not None:
        # What could be shown was; this says what could not, without failing the rest.
        click.echo(f"s3meta: queue depths not shown: {report.queues_unavailable}", err=True)
    if bucket is not None and report.nothing_recorded:
        # Not an error: a bucket just wired up has nothing yet. But a typo looks the same.
        click.echo(f"s3meta: nothing recorded for bucket {bucket}", err=True)


def _queues(settings: Settings) -> list[tuple[str, Queue]]:
    from s3meta.aws.clients import sqs_client

    return pipeline_queues(sqs_client(settings), settings)


def _buckets_table(buckets: Sequence[BucketRows]) -> Table:
    table = titled_table("Rows per bucket", gap=_COLUMN_GAP)
    table.add_column("bucket", overflow="fold")
    for name in ("live", "deleted", "total"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in buckets:
        table.add_row(Text(printable(row.bucket)), str(row.live), str(row.deleted), str(row.total))
    if len(buckets) > 1:
        live = sum(row.live for row in buckets)
        deleted = sum(row.deleted for row in buckets)
        table.add_row(Text("all", style="bold"), str(live), str(deleted), str(live + deleted))
    return table


def _attempts_table(attempts: dict[str, dict[str, int]]) -> Table:
    table = titled_table("Attempts", gap=_COLUMN_GAP)
    table.add_column("outcome", no_wrap=True)
    table.add_column("last hour", justify="right", no_wrap=True)
    table.add_column("last day", justify="right", no_wrap=True)
    for outcome in Outcome:
        table.add_row(
            str(outcome),
            str(attempts["last_hour"][outcome]),
            str(attempts["last_day"][outcome]),
        )
    return table


def _queues_table(queues: Sequence[QueueReport], now: datetime) -> Table:
    table = titled_table(
        "Queues (oldest: the oldest of up to 10 visible messages sampled)", gap=_COLUMN_GAP
    )
    table.add_column("queue", no_wrap=True)
    table.add_column("name", overflow="fold")
    for name in ("visible", "in flight", "delayed", "oldest"):
        table.add_column(name, justify="right", no_wrap=True)
    for queue in queues:
        if queue.depth is None:
            table.add_row(queue.role, Text(queue.name), "missing", _MISSING, _MISSING, _MISSING)
            continue
        table.add_row(
            queue.role,
            Text(queue.name),
            str(queue.depth.visible),
            str(queue.depth.in_flight),
            str(queue.depth.delayed),
            format_age(queue.oldest_age(now)),
        )
    return table
