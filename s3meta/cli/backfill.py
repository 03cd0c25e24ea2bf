"""``s3meta backfill s3://B[/PREFIX]``: queue ``extract_metadata`` for objects already there."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, replace
from datetime import timedelta
from types import FrameType

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from db.reader import open_reader
from s3meta import composition
from s3meta.aws.clients import s3_client, sqs_client
from s3meta.aws.listing import is_versioned
from s3meta.aws.sqs import Queue
from s3meta.cli.params import s3_prefix_uri
from s3meta.config import get_settings
from s3meta.errors import S3MetaError
from s3meta.operations.backfill import Backfill, BackfillJob, Counts
from tasks.batch import BATCH_LIMIT, BatchPublisher, KombuSqsEncoder

# Without a terminal, a log line this often (objects listed).
PROGRESS_EVERY = 5000


class _Terminated(BaseException):
    """SIGTERM arrived; handled like Ctrl-C.

    A ``BaseException``, as ``KeyboardInterrupt`` is: raised in the middle of an SQS or S3
    call, it must not be taken for that call's failure by a library's ``except Exception``
    (botocore catches those to retry), or the backfill would go on after SIGTERM.
    """


@click.command("backfill")
@click.argument("uri", metavar="s3://BUCKET[/PREFIX]", callback=s3_prefix_uri)
@click.option(
    "--start-after",
    metavar="KEY",
    default=None,
    help="Start after this key (S3's StartAfter): resume where an earlier run stopped.",
)
@click.option(
    "--only-missing",
    is_flag=True,
    help="Skip keys whose row already matches the object (same ETag and size, not deleted, "
    "written since the row kept every header): after a migration that adds columns, this "
    "fills them for existing rows.",
)
@click.option(
    "--versions",
    is_flag=True,
    help="List every version (ListObjectVersions) and queue a task per version, delete "
    "markers included, so that the versions made before s3meta ran are recorded too. With "
    "--only-missing, versions recorded as they are listed are skipped; --start-after names "
    "a key (its versions are skipped). A bucket whose versioning was never enabled is "
    "backfilled as without --versions (stderr says so).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, BATCH_LIMIT),
    default=BATCH_LIMIT,
    show_default=True,
    help="Tasks per SQS SendMessageBatch request.",
)
@click.option(
    "--max-queue-depth",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Pause while the task queue holds more waiting tasks than this, so that live "
    "events are not queued behind the whole backfill (0: never pause).",
)
@click.option(
    "--count-first",
    is_flag=True,
    help="List the keys once before starting, only to count them, so that progress has a "
    "total: a bar, N of TOTAL and an ETA. S3 keeps no object count, so without this "
    "progress shows the count, rate and elapsed time only. Costs one more ListObjectsV2 "
    "request per 1,000 objects.",
)
@click.option(
    "--progress-every",
    type=click.IntRange(min=1),
    default=PROGRESS_EVERY,
    hidden=True,
    help="Without a terminal, log progress every this many objects listed.",
)
@click.option("--json", "as_json", is_flag=True, help="Report the counts as JSON.")
def backfill(
    uri: tuple[str, str],
    start_after: str | None,
    only_missing: bool,
    batch_size: int,
    max_queue_depth: int,
    count_first: bool,
    progress_every: int,
    as_json: bool,
    versions: bool,
) -> None:
    """Queue an extract_metadata task for every object under s3://BUCKET[/PREFIX].

    Lists the bucket a page at a time and publishes the tasks in batches. If it stops
    (Ctrl-C, SIGTERM, an error) it says which key it got to and how to resume.

    Progress goes to stderr: a live line on a terminal, else a log line every 5,000
    objects. It has an ETA only with --count-first, as S3 cannot say how many objects
    there are without listing them.
    """
    bucket, prefix = uri
    if versions and count_first:
        raise click.UsageError("--count-first counts objects, not versions: not with --versions")
    job = BackfillJob(
        bucket, prefix, start_after, only_missing, batch_size, max_queue_depth, count_first,
        versions,
    )  # fmt: skip
    run = Backfill(job)
    try:
        with _terminate_on_sigterm():
            _run(run, progress_every)
    except (KeyboardInterrupt, _Terminated) as exc:
        click.echo(f"s3meta: {run.stopped()}", err=True)
        raise click.exceptions.Exit(130 if isinstance(exc, KeyboardInterrupt) else 143) from None
    except S3MetaError as exc:
        # One line: what failed, then where it got to and how to go on from there.
        raise click.ClickException(f"{exc}; {run.stopped()}") from exc
    counts = run.counts
    if as_json:
        click.echo(json.dumps({"bucket": bucket, "prefix": prefix, **asdict(counts)}))
    else:
        click.echo(
            f"listed {counts.listed}, published {counts.published}, skipped {counts.skipped}"
        )


def _run(run: Backfill, progress_every: int) -> None:
    from tasks.app import app

    settings = get_settings()
    s3 = s3_client(settings)
    if run.job.versions and not is_versioned(s3, run.job.bucket):
        click.echo(
            f"s3meta: s3://{run.job.bucket} has never had versioning enabled: backfilling its "
            "objects as without --versions",
            err=True,
        )
        run.job = replace(run.job, versions=False)
    console = Console(stderr=True)
    # A live line needs a terminal that can redraw it; --json's report goes to stdout, so
    # the progress still shows on a terminal's stderr.
    progress = _Progress(console if console.is_interactive else None, run.job, progress_every)
    encoder = KombuSqsEncoder(app)
    try:
        sqs = sqs_client(settings)
        publisher = BatchPublisher(sqs, encoder.encode, batch_size=run.job.batch_size)
        with (
            open_reader(composition.database_url(settings))
            if run.job.only_missing
            else nullcontext()
        ) as reader:
            run.run(s3, publisher, Queue(sqs, settings.task_queue), progress, reader)
    finally:
        encoder.close()


class _Progress:
    """Progress on stderr: a live line on ``console`` (a terminal), or without one a log
    line every ``every`` objects listed."""

    def __init__(self, console: Console | None, job: BackfillJob, every: int) -> None:
        self._console = console
        self._every = every
        self._where = f"s3://{job.bucket}/{job.prefix}"

    @contextmanager
    def counting(self) -> Iterator[Callable[[int], None]]:
        """Around --count-first's pass; yields what to call with the running count."""
        what = f"counting the objects under {self._where}"
        if self._console is None:
            click.echo(f"s3meta: {what} first", err=True)
            yield lambda _counted: None
            return
        with self._console.status(what) as status:
            yield lambda counted: status.update(f"{what}: {counted}")

    @contextmanager
    def listing(self, total: int | None) -> Iterator[_Reporter]:
        """Around the listing; yields what to call with the counts after each object."""
        if self._console is None:
            if total is not None:
                click.echo(f"s3meta: {total} objects to list", err=True)
            yield _Reporter(None, total, self._every)
            return
        columns: list[ProgressColumn] = [SpinnerColumn()]
        if total is None:
            columns.append(TextColumn("{task.completed} listed"))
        else:
            columns += [BarColumn(), MofNCompleteColumn(), TextColumn("listed")]
        columns += [
            TextColumn("{task.fields[published]} published, {task.fields[skipped]} skipped"),
            TextColumn("{task.fields[rate]:.0f}/s"),
            TimeElapsedColumn(),
        ]
        if total is not None:
            columns += [TextColumn("ETA"), TimeRemainingColumn()]
        columns.append(TextColumn("{task.fields[state]}"))
        with Progress(*columns, console=self._console, transient=False) as progress:
            yield _Reporter(progress, total, self._every)


class _Reporter:
    """Takes the counts after each object listed, and once more with ``done`` at the end:
    updates ``progress`` (the live line), or without it logs a line every ``every``."""

    def __init__(self, progress: Progress | None, total: int | None, every: int) -> None:
        self._progress = progress
        self._total = total
        self._every = every
        self._started = time.monotonic()
        self._logged = 0
        self._pause: str | None = None
        self._task = (
            progress.add_task("backfill", total=total, published=0, skipped=0, rate=0.0, state="")
            if progress is not None
            else None
        )

    def __call__(self, counts: Counts, *, done: bool = False) -> None:
        rate = counts.listed / max(time.monotonic() - self._started, 1e-6)
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                completed=counts.listed,
                published=counts.published,
                skipped=counts.skipped,
                rate=rate,
            )
            if done and self._total is not None:
                # Objects added or removed since the count: the listing is complete all the
                # same, so the bar ends full rather than short of (or past) the count.
                self._progress.update(self._task, total=counts.listed)
        elif not done and counts.listed - self._logged >= self._every:
            self._logged = counts.listed
            click.echo(f"s3meta: {self._line(counts, rate)}", err=True)

    def paused(self, why: str | None) -> None:
        """Show ``why`` the backfill waits, or with None that it goes on.

        On the live line it stands beside the counts; without a terminal the first reading
        of a pause and its end are one line each, not one per reading.
        """
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, state=why or "")
        elif why is not None and self._pause is None:
            click.echo(f"s3meta: {why}", err=True)
        elif why is None and self._pause is not None:
            click.echo("s3meta: resumed: the task queue has room again", err=True)
        self._pause = why

    def _line(self, counts: Counts, rate: float) -> str:
        rest = f"published {counts.published}, skipped {counts.skipped}"
        if self._total is None:
            return f"listed {counts.listed}, {rest} ({rate:.0f}/s)"
        eta = timedelta(seconds=round(max(self._total - counts.listed, 0) / rate))
        return f"listed {counts.listed} of {self._total}, {rest} ({rate:.0f}/s, ETA {eta})"


@contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(_signum: int, _frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
