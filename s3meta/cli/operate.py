"""``s3meta requeue`` (explicit keys, failed keys, dead letters) and ``s3meta stats``."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.table import Table
from rich.text import Text

from db.engine import create_engine, require_database
from db.reports import BucketRows, FailedKey, attempt_counts, iter_failed_keys, rows_per_bucket
from s3meta.aws.errors import Failure, classify, describe, error_code
from s3meta.aws.sqs import BATCH_LIMIT, Queue, QueueDepth, QueueMessage, sqs_errors
from s3meta.cli.query import stdout_console
from s3meta.config import Settings, get_settings
from s3meta.domain.attempts import Outcome
from s3meta.domain.times import format_age, parse_since
from s3meta.domain.uris import parse_s3_uri, validate_bucket_name
from s3meta.errors import (
    PermanentError,
    PublishError,
    QueueNotFound,
    S3MetaError,
    StorageUnavailable,
)
from s3meta.render import iso_utc

if TYPE_CHECKING:
    import sqlalchemy as sa
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

P = ParamSpec("P")
R = TypeVar("R")

# --dead-letters without --limit moves at most this many per run, so that a cause that is
# not fixed (the bridge dead-letters what was just moved) cannot keep it busy forever.
DEAD_LETTER_CAP = 100_000
# Long enough to send a batch of ten to the events queue and delete it here.
_MOVE_VISIBILITY_TIMEOUT = 120
# A long poll of 1 s asks every SQS server, so an empty answer means empty.
_RECEIVE_WAIT_SECONDS = 1
# Human output of a long --failed run says how far it got this often.
_PROGRESS_EVERY = 5000
_NO_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
_NO_BUCKET = frozenset({"404", "NoSuchBucket", "NotFound"})
_ACCESS_DENIED = frozenset({"403", "AccessDenied", "Forbidden"})
# Outcomes shown in the attempts table, in this order; --json has them all.
_SHOWN_OUTCOMES = (Outcome.FAILED, Outcome.RETRYING, Outcome.SKIPPED, Outcome.SUCCEEDED)
_WINDOWS = {"last_hour": timedelta(hours=1), "last_day": timedelta(days=1)}
_MISSING = "-"


def _one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """s3meta's errors as one line and exit status 1, also when run outside ``s3meta``."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except S3MetaError as exc:
            raise click.ClickException(str(exc)) from exc

    return run


def _bucket_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return validate_bucket_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _uri_arguments(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    found = []
    for value in values:
        try:
            found.append(parse_s3_uri(value))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return found


def _since_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


# --- requeue ----------------------------------------------------------------------------


@click.command("requeue")
@click.argument("uris", nargs=-1, metavar="[s3://BUCKET/KEY]...", callback=_uri_arguments)
@click.option(
    "--failed",
    is_flag=True,
    help="Requeue every key whose last attempt failed (a key that failed and later "
    "succeeded is left alone).",
)
@click.option(
    "--since",
    metavar="TIME",
    callback=_since_option,
    help="With --failed: only keys whose failure finished at or after TIME: ISO 8601 "
    "(UTC unless it says otherwise) or a span back from now such as 30m, 1h, 2d.",
)
@click.option(
    "--bucket",
    metavar="BUCKET",
    callback=_bucket_option,
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
@_one_line_errors
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
    queue with their original body, and deleted from the dead-letter queue only after that.
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


def _requeue_uris(
    settings: Settings, uris: Sequence[tuple[str, str]], *, dry_run: bool, as_json: bool
) -> dict[str, Any]:
    from s3meta.aws.clients import s3_client

    # HeadObject cannot tell a missing bucket from a missing key: without this, a typo in
    # the bucket would record a deleted object in a bucket that does not exist.
    client = s3_client(settings)
    for name in sorted({bucket for bucket, _ in uris}):
        _check_bucket(client, name)
    task_ids: list[str] = []
    for bucket, key in [] if dry_run else uris:
        try:
            task_ids.append(_publish(bucket, key))
        except PublishError as exc:
            if not task_ids:
                raise
            raise PublishError(f"{exc} (after queueing {_count(len(task_ids), 'task')})") from exc
    if not as_json:
        if dry_run:
            for bucket, key in uris:
                click.echo(f"s3://{bucket}/{key}")
        verb = "would queue" if dry_run else "queued"
        click.echo(f"s3meta: {verb} {_count(len(uris), 'task')}", err=dry_run)
    return {
        "source": "uris",
        "dry_run": dry_run,
        "matched": len(uris),
        "queued": len(task_ids),
        "task_ids": task_ids,
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
    matched = 0
    last: FailedKey | None = None
    try:
        with (
            _engine(settings) as engine,
            closing(iter_failed_keys(engine, since=since, bucket=bucket)) as keys,
        ):
            for failed_key in keys:
                if limit is not None and matched >= limit:
                    break
                if not dry_run:
                    _publish(failed_key.bucket, failed_key.key)
                elif not as_json:
                    click.echo(_uri(failed_key))
                matched += 1
                last = failed_key
                if not as_json and not dry_run and matched % _PROGRESS_EVERY == 0:
                    click.echo(f"s3meta: queued {matched} so far, at {_uri(last)}", err=True)
    except S3MetaError as exc:
        if dry_run or last is None:
            raise
        # Safe to run again: the keys whose requeued task has finished no longer match.
        raise type(exc)(
            f"{exc} (after queueing {_count(matched, 'task')}, the last for {_uri(last)}; "
            "running the command again is safe)"
        ) from exc
    scope = []
    if bucket:
        scope.append(f"in {bucket}")
    if since:
        scope.append(f"failed since {iso_utc(since)}")
    what = " ".join(["keys whose last attempt failed", *scope])
    if not as_json:
        verb = "would queue" if dry_run else "queued"
        click.echo(f"s3meta: {verb} {_count(matched, 'task')} for {what}", err=dry_run)
    return {
        "source": "failed",
        "dry_run": dry_run,
        "bucket": bucket,
        "since": iso_utc(since),
        "matched": matched,
        "queued": 0 if dry_run else matched,
    }


def _publish(bucket: str, key: str) -> str:
    """Publish a manual requeue of ``bucket``/``key`` (no event fields); returns the task id."""
    from tasks.extract import extract_metadata
    from tasks.publisher import PUBLISH_RETRY_POLICY

    try:
        result = extract_metadata.apply_async(
            args=(bucket, key), retry=True, retry_policy=PUBLISH_RETRY_POLICY
        )
    except Exception as exc:  # any failure means the broker may not have it
        raise PublishError(f"could not publish the task for s3://{bucket}/{key}: {exc}") from exc
    return str(result.id)


def _check_bucket(client: S3Client, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, _NO_BUCKET)
        if failure is Failure.NOT_FOUND:
            raise PermanentError(f"s3://{bucket}: no such bucket") from exc
        if failure is Failure.TRANSIENT:
            raise StorageUnavailable(f"s3://{bucket}: {describe(exc)}") from exc
        if isinstance(exc, ClientError) and error_code(exc) in _ACCESS_DENIED:
            raise PermanentError(
                f"s3://{bucket}: access denied to HeadBucket (needs s3:ListBucket)"
            ) from exc
        raise PermanentError(f"s3://{bucket}: {describe(exc)}") from exc


# --- dead letters -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message received from the dead-letter queue, with its message attributes."""

    message: QueueMessage
    attributes: dict[str, str]

    @property
    def original_id(self) -> str | None:
        return self.attributes.get("s3meta-original-message-id")


@dataclass
class MoveReport:
    """What moving dead letters did."""

    moved: int = 0
    # Sent to the events queue but not deleted here (a receipt expired): moved again next
    # time, a harmless duplicate.
    not_deleted: int = 0
    # Received again after this run had moved them: the cause is not fixed.
    came_back: int = 0
    stopped: str = "empty"  # empty, limit, cap or came-back
    sent_ids: set[str] = field(default_factory=set, repr=False)


def move_dead_letters(
    client: SQSClient,
    dead_letters: Queue,
    events: Queue,
    *,
    limit: int | None,
    visibility_timeout: int = _MOVE_VISIBILITY_TIMEOUT,
    wait_seconds: int = _RECEIVE_WAIT_SECONDS,
) -> MoveReport:
    """Move messages from ``dead_letters`` to ``events``: send the body, then delete.

    A message is deleted only after the events queue accepted its copy, so none is lost;
    if a send fails, what was sent is deleted, the rest released, and the error raised.
    Stops when the queue is empty, after ``limit`` (else ``DEAD_LETTER_CAP``) messages, or
    when a message this run moved comes back (dead-lettered again: the cause persists).
    """
    _ = events.url, dead_letters.url  # a missing queue fails here, before anything moves
    cap = limit if limit is not None else DEAD_LETTER_CAP
    report = MoveReport()
    # Each round moves at least one message or stops, so ``cap`` rounds are enough.
    for _round in range(cap):
        wanted = min(BATCH_LIMIT, cap - report.moved)
        batch = _receive(
            client,
            dead_letters,
            max_messages=wanted,
            visibility_timeout=visibility_timeout,
            wait_seconds=wait_seconds,
        )
        if not batch:
            report.stopped = "empty"
            return report
        returned = {
            letter.message.message_id
            for letter in batch
            if letter.message.message_id in report.sent_ids or letter.original_id in report.sent_ids
        }
        fresh = [letter.message for letter in batch if letter.message.message_id not in returned]
        sent: list[QueueMessage] = []
        try:
            for message in fresh:
                report.sent_ids.add(events.send(message.body))
                sent.append(message)
        finally:
            # Whatever happens, what reached the events queue leaves this one, and what did
            # not is visible again at once.
            report.moved += len(sent)
            if sent:
                report.not_deleted += len(dead_letters.delete(sent))
            done = {message.message_id for message in sent}
            unsent = [letter.message for letter in batch if letter.message.message_id not in done]
            _release(client, dead_letters, unsent)
        if returned:
            report.came_back = len(returned)
            report.stopped = "came-back"
            return report
        if report.moved >= cap:
            report.stopped = "limit" if limit is not None else "cap"
            return report
    report.stopped = "limit" if limit is not None else "cap"
    return report


def _requeue_dead_letters(
    settings: Settings, *, limit: int | None, dry_run: bool, as_json: bool
) -> dict[str, Any]:
    from s3meta.aws.clients import sqs_client

    client = sqs_client(settings)
    dead_letters = Queue(client, settings.dead_letter_queue)
    events = Queue(client, settings.events_queue)
    route = f"{dead_letters.name} to {events.name}"
    if dry_run:
        _ = events.url
        depth = dead_letters.depth()
        sample = _receive(
            client, dead_letters, max_messages=BATCH_LIMIT, visibility_timeout=0, wait_seconds=0
        )
        would_move = depth.visible if limit is None else min(limit, depth.visible)
        if not as_json:
            click.echo(f"s3meta: would move about {_count(would_move, 'message')} from {route}")
            for letter in sample:
                reason = letter.attributes.get("s3meta-reason", "(no reason recorded)")
                click.echo(f"  {letter.message.message_id}: {reason}")
        return {
            "source": "dead-letters",
            "dry_run": True,
            "from": dead_letters.name,
            "to": events.name,
            "would_move": would_move,
            "depth": _depth_json(depth),
            "sample": [_letter_json(letter) for letter in sample],
        }
    report = move_dead_letters(client, dead_letters, events, limit=limit)
    remaining = dead_letters.depth()
    if not as_json:
        click.echo(f"s3meta: moved {_count(report.moved, 'message')} from {route}")
    if report.stopped == "came-back":
        click.echo(
            f"s3meta: stopped: {_count(report.came_back, 'message')} moved by this run came "
            "back to the dead-letter queue; fix the cause (see the s3meta-reason attribute) "
            "before moving them again",
            err=True,
        )
    elif report.stopped in {"limit", "cap"} and remaining.total:
        click.echo(f"s3meta: about {remaining.total} remain; run again to move more", err=True)
    if report.not_deleted:
        click.echo(
            f"s3meta: {_count(report.not_deleted, 'message')} reached the events queue but "
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
        "remaining": _depth_json(remaining),
    }


def _receive(
    client: SQSClient,
    queue: Queue,
    *,
    max_messages: int,
    visibility_timeout: int,
    wait_seconds: int,
) -> list[DeadLetter]:
    """Up to ``max_messages`` messages with their message attributes."""
    url = queue.url
    with sqs_errors(f"receive messages on {queue.name!r}"):
        response = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(max_messages, BATCH_LIMIT),
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_timeout,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
    return [_dead_letter(message) for message in response.get("Messages", [])]


def _dead_letter(message: MessageTypeDef) -> DeadLetter:
    attributes = {
        name: value["StringValue"]
        for name, value in message.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    return DeadLetter(
        QueueMessage(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message.get("Body", ""),
            receive_count=int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
        ),
        attributes,
    )


def _release(client: SQSClient, queue: Queue, messages: Sequence[QueueMessage]) -> None:
    """Make ``messages`` visible again now; on failure they come back at their timeout."""
    for start in range(0, len(messages), BATCH_LIMIT):
        batch = messages[start : start + BATCH_LIMIT]
        try:
            with sqs_errors(f"release messages on {queue.name!r}"):
                client.change_message_visibility_batch(
                    QueueUrl=queue.url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": message.receipt_handle,
                            "VisibilityTimeout": 0,
                        }
                        for index, message in enumerate(batch)
                    ],
                )
        except S3MetaError as exc:
            click.echo(f"s3meta: {exc} (they reappear after their visibility timeout)", err=True)


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "message_id": letter.message.message_id,
        "reason": letter.attributes.get("s3meta-reason"),
        "source_queue": letter.attributes.get("s3meta-source-queue"),
        "original_message_id": letter.original_id,
        "receive_count": letter.attributes.get("s3meta-receive-count"),
    }


# --- stats ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueReport:
    """One queue's depth and the age of the oldest message seen in a sample."""

    role: str
    name: str
    depth: QueueDepth | None  # None: the queue does not exist
    oldest_sent_at: datetime | None = None
    sampled: int = 0  # messages peeked at to find the oldest

    def oldest_age(self, now: datetime) -> float | None:
        if self.oldest_sent_at is None:
            return None
        # SQS's clock and ours may disagree a little; an age is never negative.
        return max(0.0, (now - self.oldest_sent_at).total_seconds())


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--bucket",
    metavar="BUCKET",
    callback=_bucket_option,
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
@_one_line_errors
def stats(as_json: bool, bucket: str | None, peek: bool) -> None:
    """Rows per bucket, recent failures and retries, and queue depths and ages: lag at a glance.

    SQS has no attribute for the age of a queue's oldest message (that is CloudWatch's
    ApproximateAgeOfOldestMessage), so it is estimated from a sample: up to 10 visible
    messages received with a visibility timeout of 0 (they stay available to consumers),
    the oldest SentTimestamp among them. Messages in flight or delayed are not sampled.
    """
    settings = get_settings()
    now = datetime.now(UTC)
    with _engine(settings) as engine:
        buckets = rows_per_bucket(engine, bucket)
        windows = {name: now - span for name, span in _WINDOWS.items()}
        attempts = attempt_counts(engine, windows, bucket)
    queues = _queue_reports(settings, peek=peek)
    if as_json:
        click.echo(json.dumps(_stats_json(now, bucket, buckets, attempts, queues)))
    else:
        console = stdout_console()
        console.print(_buckets_table(buckets))
        console.print()
        console.print(_attempts_table(attempts))
        console.print()
        console.print(_queues_table(queues, now))
    if bucket is not None and not buckets and not any(attempts["last_day"].values()):
        # Not an error: a bucket just wired up has nothing yet. But a typo looks the same.
        click.echo(f"s3meta: nothing recorded for bucket {bucket}", err=True)


def _queue_reports(settings: Settings, *, peek: bool) -> list[QueueReport]:
    from s3meta.aws.clients import sqs_client

    client = sqs_client(settings)
    roles = (
        ("events", settings.events_queue),
        ("task", settings.task_queue),
        ("dead-letter", settings.dead_letter_queue),
    )
    return [_queue_report(client, role, name, peek=peek) for role, name in roles]


def _queue_report(client: SQSClient, role: str, name: str, *, peek: bool) -> QueueReport:
    queue = Queue(client, name)
    try:
        depth = queue.depth()
    except QueueNotFound:
        return QueueReport(role, name, None)
    if not peek or depth.visible == 0:
        return QueueReport(role, name, depth)
    oldest, sampled = _peek_oldest(client, queue)
    return QueueReport(role, name, depth, oldest, sampled)


def _peek_oldest(client: SQSClient, queue: Queue) -> tuple[datetime | None, int]:
    """The oldest SentTimestamp among up to 10 visible messages, and how many were seen.

    VisibilityTimeout=0 leaves them visible to consumers; nothing is deleted.
    """
    url = queue.url
    with sqs_errors(f"peek at {queue.name!r}"):
        response = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=BATCH_LIMIT,
            VisibilityTimeout=0,
            WaitTimeSeconds=_RECEIVE_WAIT_SECONDS,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
    sent = [
        int(stamp)
        for message in response.get("Messages", [])
        if (stamp := message.get("Attributes", {}).get("SentTimestamp"))
    ]
    if not sent:
        return None, 0
    return datetime.fromtimestamp(min(sent) / 1000, UTC), len(sent)


def _stats_json(
    now: datetime,
    bucket: str | None,
    buckets: Sequence[BucketRows],
    attempts: dict[str, dict[str, int]],
    queues: Sequence[QueueReport],
) -> dict[str, Any]:
    return {
        "generated_at": iso_utc(now),
        "bucket": bucket,
        "buckets": [
            {"bucket": row.bucket, "live": row.live, "deleted": row.deleted, "total": row.total}
            for row in buckets
        ],
        "attempts": attempts,
        "queues": [
            {
                "role": queue.role,
                "name": queue.name,
                "exists": queue.depth is not None,
                **(
                    _depth_json(queue.depth)
                    if queue.depth
                    else dict.fromkeys(("visible", "in_flight", "delayed"))
                ),
                "oldest_sent_at": iso_utc(queue.oldest_sent_at),
                "oldest_age_seconds": _rounded(queue.oldest_age(now)),
                "sampled": queue.sampled,
            }
            for queue in queues
        ],
    }


def _buckets_table(buckets: Sequence[BucketRows]) -> Table:
    table = _table("Rows per bucket")
    table.add_column("bucket", overflow="fold")
    for name in ("live", "deleted", "total"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in buckets:
        table.add_row(Text(row.bucket), str(row.live), str(row.deleted), str(row.total))
    if len(buckets) > 1:
        live = sum(row.live for row in buckets)
        deleted = sum(row.deleted for row in buckets)
        table.add_row(Text("all", style="bold"), str(live), str(deleted), str(live + deleted))
    return table


def _attempts_table(attempts: dict[str, dict[str, int]]) -> Table:
    table = _table("Attempts")
    table.add_column("outcome", no_wrap=True)
    table.add_column("last hour", justify="right", no_wrap=True)
    table.add_column("last day", justify="right", no_wrap=True)
    labels = {Outcome.FAILED: "failures", Outcome.RETRYING: "retries"}
    for outcome in _SHOWN_OUTCOMES:
        table.add_row(
            labels.get(outcome, str(outcome)),
            str(attempts["last_hour"][outcome]),
            str(attempts["last_day"][outcome]),
        )
    return table


def _queues_table(queues: Sequence[QueueReport], now: datetime) -> Table:
    table = _table("Queues (oldest: the oldest of up to 10 visible messages sampled)")
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


def _table(title: str) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        padding=(0, 2, 0, 0),
        header_style="bold",
    )


# --- shared -----------------------------------------------------------------------------


@contextmanager
def _engine(settings: Settings) -> Iterator[sa.Engine]:
    require_database(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _depth_json(depth: QueueDepth) -> dict[str, int]:
    return {"visible": depth.visible, "in_flight": depth.in_flight, "delayed": depth.delayed}


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _uri(failed_key: FailedKey | None) -> str:
    return "" if failed_key is None else f"s3://{failed_key.bucket}/{failed_key.key}"
