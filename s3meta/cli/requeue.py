"""``s3meta requeue``: explicit keys, keys whose last attempt failed, or dead letters."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import click

from db.reader import open_reader
from s3meta import composition
from s3meta.aws.sqs import Queue
from s3meta.cli.dead_letters import letter_summary_json
from s3meta.cli.errors import one_line_errors
from s3meta.cli.params import bucket_name, s3_uris, since_time
from s3meta.config import Settings, get_settings
from s3meta.domain.records import FailedKey
from s3meta.domain.terminal import printable
from s3meta.domain.times import iso_utc
from s3meta.domain.wording import counted
from s3meta.operations.dead_letters import (
    DEAD_LETTER_CAP,
    move_dead_letters,
    preview_move,
)
from s3meta.operations.requeue import FailedRequeue, KeyPublisher, requeue_failed, requeue_uris

# Human output of a long --failed run says how far it got this often.
_PROGRESS_EVERY = 5000


@click.command("requeue")
@click.argument("uris", nargs=-1, metavar="[s3://BUCKET/KEY]...", callback=s3_uris)
@click.option(
    "--failed",
    is_flag=True,
    help="Requeue every key whose last attempt failed (a key that failed and later "
    "succeeded is left alone; attempts no task could repeat are skipped, and counted).",
)
@click.option(
    "--since",
    metavar="TIME",
    callback=since_time,
    help="With --failed: only keys whose failure finished at or after TIME: ISO 8601 "
    "(UTC unless it says otherwise) or a span back from now such as 30m, 1h, 2d.",
)
@click.option(
    "--bucket",
    metavar="BUCKET",
    callback=bucket_name,
    help="With --failed: only keys of this bucket.",
)
@click.option(
    "--dead-letters",
    is_flag=True,
    help="Move the messages of the dead-letter queue back to the events queue (once their "
    "cause is fixed); the bridge then reads them again.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="With --failed or --dead-letters: handle at most this many keys or messages "
    f"[default: all; for dead letters at most {DEAD_LETTER_CAP} per run].",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Say what would be requeued or moved, and change nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the report.")
@one_line_errors()
def requeue(
    uris: list[tuple[str, str]],
    failed: bool,
    since: datetime | None,
    bucket: str | None,
    dead_letters: bool,
    limit: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run extract_metadata again for chosen keys, or replay dead-lettered events.

    \b
    s3meta requeue s3://BUCKET/KEY [s3://BUCKET/KEY ...]
    s3meta requeue --failed [--since 1h] [--bucket BUCKET] [--limit N] [--dry-run]
    s3meta requeue --dead-letters [--limit N] [--dry-run]

    A requeued key is read from S3 now, as a manual requeue: its row ends up matching the
    object (or marked deleted if it is gone). Dead letters are sent back to the events
    queue with their original body and attributes, and deleted from the dead-letter queue
    only after that.
    """
    modes = [name for name, chosen in (("URIs", bool(uris)), ("--failed", failed)) if chosen]
    if dead_letters:
        modes.append("--dead-letters")
    if len(modes) != 1:
        raise click.UsageError(
            "give s3://BUCKET/KEY arguments, --failed or --dead-letters (exactly one of them)"
            if not modes
            else f"{' and '.join(modes)} cannot be combined"
        )
    if (since is not None or bucket is not None) and not failed:
        raise click.UsageError("--since and --bucket go with --failed")
    if limit is not None and uris:
        raise click.UsageError("--limit goes with --failed or --dead-letters")
    settings = get_settings()
    if uris:
        report = _requeue_uris(settings, uris, dry_run=dry_run, as_json=as_json)
    elif failed:
        report = _requeue_failed(
            settings, since=since, bucket=bucket, limit=limit, dry_run=dry_run, as_json=as_json
        )
    else:
        report = _requeue_dead_letters(settings, limit=limit, dry_run=dry_run, as_json=as_json)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))


def _publisher() -> KeyPublisher:
    from tasks.publisher import CeleryPublisher

    return CeleryPublisher()


def _requeue_uris(
    settings: Settings, uris: Sequence[tuple[str, str]], *, dry_run: bool, as_json: bool
) -> dict[str, Any]:
    from s3meta.aws.clients import s3_client
    from s3meta.aws.s3 import check_bucket

    check = functools.partial(check_bucket, s3_client(settings))
    report = requeue_uris(uris, _publisher(), check, dry_run=dry_run)
    if not as_json:
        if dry_run:
            for bucket, key in uris:
                click.echo(printable(f"s3://{bucket}/{key}"))
        verb = "would queue" if dry_run else "queued"
        click.echo(f"s3meta: {verb} {counted(len(uris), 'task')}", err=dry_run)
    return {
        "source": "uris",
        "dry_run": dry_run,
        "matched": len(report.uris),
        "queued": len(report.task_ids),
        "task_ids": list(report.task_ids),
    }


def _requeue_failed(
    settings: Settings,
    *,
    since: datetime | None,
    bucket: str | None,
    limit: int | None,
    dry_run: bool,
    as_json: bool,
) -> dict[str, Any]:
    def show(failed_key: FailedKey, matched: int) -> None:
        if dry_run:
            click.echo(printable(failed_key.uri))
        elif matched % _PROGRESS_EVERY == 0:
            click.echo(f"s3meta: queued {matched} so far, at {printable(failed_key.uri)}", err=True)

    with open_reader(composition.database_url(settings)) as reader:
        report = requeue_failed(
            reader,
            _publisher(),
            since=since,
            bucket=bucket,
            limit=limit,
            dry_run=dry_run,
            on_key=None if as_json else show,
        )
    if not as_json:
        scope = []
        if bucket:
            scope.append(f"in {bucket}")
        if since:
            scope.append(f"failed since {iso_utc(since)}")
        what = " ".join(["keys whose last attempt failed", *scope])
        verb = "would queue" if dry_run else "queued"
        click.echo(f"s3meta: {verb} {counted(report.matched, 'task')} for {what}", err=dry_run)
    if report.skipped:
        _say_skipped(report)
    return {
        "source": "failed",
        "dry_run": dry_run,
        "bucket": bucket,
        "since": iso_utc(since),
        "matched": report.matched,
        "queued": report.queued,
        "skipped": report.skipped,
        "skipped_examples": [
            {"uri": unusable.key.uri, "why": unusable.why} for unusable in report.skipped_examples
        ],
    }


def _say_skipped(report: FailedRequeue) -> None:
    """One line: how many unusable attempts were skipped, naming the first few."""
    examples = "; ".join(
        f"{unusable.key.uri} ({unusable.why})" for unusable in report.skipped_examples
    )
    more = report.skipped - len(report.skipped_examples)
    if more:
        examples += f"; and {more} more"
    click.echo(
        printable(f"s3meta: skipped {counted(report.skipped, 'unusable attempt')}: {examples}"),
        err=True,
    )


def _requeue_dead_letters(
    settings: Settings, *, limit: int | None, dry_run: bool, as_json: bool
) -> dict[str, Any]:
    from s3meta.aws.clients import sqs_client

    client = sqs_client(settings)
    dead_letters = Queue(client, settings.dead_letter_queue)
    events = Queue(client, settings.events_queue)
    route = f"{dead_letters.name} to {events.name}"
    if dry_run:
        preview = preview_move(dead_letters, events, limit=limit)
        if not as_json:
            click.echo(
                f"s3meta: would move about {counted(preview.would_move, 'message')} from {route}"
            )
            for letter in preview.sample:
                reason = "(no reason recorded)" if letter.reason is None else letter.reason
                click.echo(f"  {letter.message.message_id}: {printable(reason)}")
        return {
            "source": "dead-letters",
            "dry_run": True,
            "from": dead_letters.name,
            "to": events.name,
            "would_move": preview.would_move,
            "depth": asdict(preview.depth),
            "sample": [letter_summary_json(letter) for letter in preview.sample],
        }
    report = move_dead_letters(
        dead_letters, events, limit=limit, warn=lambda line: click.echo(f"s3meta: {line}", err=True)
    )
    remaining = dead_letters.depth()
    if not as_json:
        click.echo(f"s3meta: moved {counted(report.moved, 'message')} from {route}")
    if report.stopped == "came-back":
        click.echo(
            f"s3meta: stopped: {counted(report.came_back, 'message')} moved by this run came "
            "back to the dead-letter queue; fix the cause (see the s3meta-reason attribute) "
            "before moving them again",
            err=True,
        )
    elif report.stopped in {"limit", "cap"} and remaining.total:
        click.echo(f"s3meta: about {remaining.total} remain; run again to move more", err=True)
    if report.not_deleted:
        click.echo(
            f"s3meta: {counted(report.not_deleted, 'message')} reached the events queue but "
            "could not be deleted from the dead-letter queue; moving them again later only "
            "repeats harmless work",
            err=True,
        )
    return {
        "source": "dead-letters",
        "dry_run": False,
        "from": dead_letters.name,
        "to": events.name,
        "moved": report.moved,
        "not_deleted": report.not_deleted,
        "came_back": report.came_back,
        "stopped": report.stopped,
        "remaining": asdict(remaining),
    }
