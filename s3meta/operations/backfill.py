"""Queueing ``extract_metadata`` for the objects already in a bucket: a backfill.

The bucket is listed a page at a time and the tasks published in batches, pausing while
the task queue is deep so that live events are not queued behind the whole backfill. A
run that stops keeps its counts and the last key published, and says how to resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from s3meta.aws.listing import count_objects, iter_pages, iter_version_pages
from s3meta.aws.sqs import QueueDepth
from s3meta.domain.objects import Listed, ListedVersion
from s3meta.domain.records import ObjectFilter, ObjectRecord, VersionRecord
from s3meta.domain.task_call import task_kwargs
from s3meta.domain.terminal import printable
from s3meta.domain.versions import in_listed_order, version_event

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from db.reader import ObjectReader


@dataclass
class Counts:
    listed: int = 0
    published: int = 0
    skipped: int = 0
    total: int | None = None  # what --count-first counted; None without it


@dataclass(frozen=True)
class BackfillJob:
    """What one run does."""

    bucket: str
    prefix: str
    start_after: str | None
    # Skip keys whose row matches the object (same ETag and size, live, every header kept).
    only_missing: bool
    batch_size: int
    max_queue_depth: int  # pause while more tasks than this wait (0: never pause)
    count_first: bool  # list once first, only to count, so that progress has a total
    # A task per version (ListObjectVersions), delete markers included.
    versions: bool = False


class TaskBatches(Protocol):
    """Where the tasks go (``tasks.batch.BatchPublisher``)."""

    @property
    def published(self) -> int: ...

    @property
    def last_published(self) -> str | None:
        """The key of the last task the broker accepted."""
        ...

    def add(self, bucket: str, key: str, *, tag: str | None = None, **task_kwargs: Any) -> None:
        """Queue a task; ``tag`` (else ``key``) is what ``last_published`` says once it is in."""
        ...

    def flush(self) -> None: ...


class TaskQueue(Protocol):
    """The task queue, as pausing reads it (``s3meta.aws.sqs.Queue``)."""

    name: str

    def depth(self) -> QueueDepth: ...


class Reporter(Protocol):
    """Takes the counts after each object listed, and once more with ``done`` at the end."""

    def __call__(self, counts: Counts, *, done: bool = False) -> None: ...

    def paused(self, why: str | None) -> None:
        """The run waits, and why; with None, it goes on."""
        ...


class Progress(Protocol):
    """How a run shows its progress."""

    def counting(self) -> AbstractContextManager[Callable[[int], None]]:
        """Around the counting pass; yields what to call with the running count."""
        ...

    def listing(self, total: int | None) -> AbstractContextManager[Reporter]:
        """Around the listing; yields what takes the counts."""
        ...


class Backfill:
    """One run of ``job``; its counts and the last key published stay readable if it stops."""

    def __init__(self, job: BackfillJob) -> None:
        self.job = job
        self.counts = Counts()
        self.last: str | None = job.start_after

    def run(
        self,
        s3: S3Client,
        publisher: TaskBatches,
        tasks: TaskQueue,
        progress: Progress,
        reader: ObjectReader | None = None,
    ) -> Counts:
        """List the bucket and publish a task per object (with ``job.only_missing``, per
        object whose row in ``reader`` does not match it)."""
        job, counts = self.job, self.counts
        if job.count_first:
            with progress.counting() as counted:
                counts.total = count_objects(
                    s3, job.bucket, job.prefix, start_after=job.start_after, counted=counted
                )
        check_every = max(1, job.max_queue_depth // 2)
        checked_at = 0
        try:
            with progress.listing(counts.total) as report:
                for listed, publish in self._tasks(s3, reader):
                    counts.listed += 1
                    if publish is None:
                        counts.skipped += 1
                    else:
                        publisher.add(job.bucket, listed, **publish)
                    if job.max_queue_depth and publisher.published - checked_at >= check_every:
                        wait_for_room(tasks, job.max_queue_depth, report.paused)
                        checked_at = publisher.published
                    self._note(publisher)
                    report(counts)
                publisher.flush()
                self._note(publisher)
                report(counts, done=True)
        finally:
            self._note(publisher)
        return counts

    def _tasks(
        self, s3: S3Client, reader: ObjectReader | None
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Each key (a version's, with ``job.versions``) listed, with its task's keyword
        arguments and ``tag``, or None to skip it."""
        job = self.job
        if job.versions:
            yield from self._version_tasks(s3, reader)
            return
        rows = self._existing_rows(reader)
        for page in iter_pages(s3, job.bucket, job.prefix, start_after=job.start_after):
            for listed in page:
                yield listed.key, None if rows is not None and rows.matches(listed) else {}

    def _version_tasks(
        self, s3: S3Client, reader: ObjectReader | None
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        job = self.job
        recorded = self._existing_versions(reader)
        # A task is tagged with the key before its own: once it is in, that key's versions
        # all are, so resuming after it (--start-after) leaves none out.
        done, current = job.start_after or "", None
        pages = iter_version_pages(s3, job.bucket, job.prefix, start_after=job.start_after)
        for listed in in_listed_order(version for page in pages for version in page):
            if listed.key != current:
                done, current = (current if current is not None else done), listed.key
            if recorded is not None and recorded.matches(listed):
                yield listed.key, None
            else:
                yield listed.key, {"tag": done, **version_task_kwargs(job.bucket, listed)}

    def _existing_versions(self, reader: ObjectReader | None) -> _Versions | None:
        job = self.job
        if not job.only_missing:
            return None
        if reader is None:
            raise ValueError("only_missing needs a reader of the rows")
        return _Versions(reader.iter_versions(job.bucket, job.prefix, after=job.start_after))

    def stopped(self) -> str:
        """Where a stopped run got to and how to resume it."""
        counts = self.counts
        done = f"listed {counts.listed}, published {counts.published}, skipped {counts.skipped}"
        if self.last is None:
            return f"stopped before publishing anything ({done}); run the same command again"
        quoted = "'" + self.last.replace("'", "'\"'\"'") + "'"
        return printable(
            f"stopped after s3://{self.job.bucket}/{self.last}; resume with --start-after "
            f"{quoted} ({done})"
        )

    def _note(self, publisher: TaskBatches) -> None:
        self.counts.published = publisher.published
        self.last = publisher.last_published or self.job.start_after

    def _existing_rows(self, reader: ObjectReader | None) -> _Rows | None:
        job = self.job
        if not job.only_missing:
            return None
        if reader is None:
            raise ValueError("only_missing needs a reader of the rows")
        # Deleted rows never match an object: only live ones are read.
        where = ObjectFilter(job.bucket, job.prefix, include_deleted=False)
        after = (job.bucket, job.start_after) if job.start_after else None
        return _Rows(reader.iter_objects(where, after=after))


class _Rows:
    """A merge-walk over the rows in S3 key order, alongside the listing."""

    def __init__(self, rows: Iterator[ObjectRecord]) -> None:
        self._rows = rows
        self._current = next(rows, None)

    def matches(self, listed: Listed) -> bool:
        # Python compares str by code point, which is UTF-8 byte order: S3's key order.
        while self._current is not None and self._current.object_key < listed.key:
            self._current = next(self._rows, None)
        row = self._current
        return (
            row is not None
            and row.object_key == listed.key
            and not row.is_deleted
            and row.etag == listed.etag
            and row.size == listed.size
            # Written before the row kept every header (revision 0005): HeadObject it again.
            and row.headers is not None
        )


class _Versions:
    """A merge-walk over the recorded versions in S3 key order, alongside the listing."""

    def __init__(self, versions: Iterator[VersionRecord]) -> None:
        self._versions = versions
        self._next = next(versions, None)
        self._key: str | None = None
        self._of_key: dict[str, VersionRecord] = {}

    def matches(self, listed: ListedVersion) -> bool:
        if listed.key != self._key:
            self._key, self._of_key = listed.key, {}
            while self._next is not None and self._next.object_key <= listed.key:
                if self._next.object_key == listed.key:
                    self._of_key[str(self._next.version_id)] = self._next
                self._next = next(self._versions, None)
        version = self._of_key.get(listed.version_id)
        return version is not None and version_matches(version, listed)


def version_matches(version: VersionRecord, listed: ListedVersion) -> bool:
    """Whether ``version``'s row records ``listed`` as it is: standing, the same kind, and
    for an object version the same ETag and size, with every header kept."""
    if version.is_deleted or version.is_delete_marker != listed.is_delete_marker:
        return False
    if listed.is_delete_marker:
        return True
    return (
        version.etag == listed.etag and version.size == listed.size and version.headers is not None
    )


def version_task_kwargs(bucket: str, listed: ListedVersion) -> dict[str, Any]:
    """The task of a listed version (``s3meta.domain.versions.version_event``)."""
    return task_kwargs(version_event(bucket, listed, BACKFILL_VERSION))


# The event name of a backfilled version's task: its row then says where it came from.
BACKFILL_VERSION = "Backfill:Version"


def wait_for_room(
    queue: TaskQueue,
    max_depth: int,
    paused: Callable[[str | None], None],
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once the task queue holds at most ``max_depth`` tasks waiting to run.

    Calls ``paused`` with why while it waits (each time the depth is read), then with None.
    """
    waited = False
    while True:
        depth = queue.depth()
        waiting = depth.visible + depth.delayed
        if waiting <= max_depth:
            if waited:
                paused(None)
            return
        waited = True
        paused(
            f"paused: task queue {queue.name} holds {waiting} > {max_depth} (--max-queue-depth);"
            " waiting for the workers"
        )
        sleep(1)
