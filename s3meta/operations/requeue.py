"""Running ``extract_metadata`` again for chosen keys: explicit ones, or those that failed.

A requeued task carries no event fields, so the worker reads the object from S3 as it is
now: its row ends up matching the object, or marked deleted if it is gone. A failed attempt
no task could ever repeat (a refused call, a bucket name S3 does not allow) is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from s3meta.domain.names import bucket_name_problem, key_problem
from s3meta.domain.records import FailedKey
from s3meta.domain.wording import counted
from s3meta.errors import InvalidTaskArguments, PublishError, S3MetaError

if TYPE_CHECKING:
    from db.reader import ObjectReader


class KeyPublisher(Protocol):
    def requeue(self, bucket: str, key: str) -> str:
        """Publish a manual requeue of ``bucket``/``key``; returns its task id.

        Raises ``PublishError`` if the broker may not have it.
        """
        ...


@dataclass(frozen=True, slots=True)
class UriRequeue:
    """What requeueing explicit keys did (or, in a dry run, would do)."""

    uris: Sequence[tuple[str, str]]  # (bucket, key), as given
    dry_run: bool
    task_ids: Sequence[str]  # empty in a dry run


# A report names this many of the attempts it skipped; it counts them all.
SKIPPED_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Unusable:
    """A failed attempt that requeueing skipped, and why no task could repeat it."""

    key: FailedKey
    why: str


@dataclass(frozen=True, slots=True)
class FailedRequeue:
    """What requeueing the keys whose last attempt failed did (or would do)."""

    since: datetime | None
    bucket: str | None
    dry_run: bool
    matched: int
    skipped: int = 0
    skipped_examples: Sequence[Unusable] = ()

    @property
    def queued(self) -> int:
        return 0 if self.dry_run else self.matched


def requeue_uris(
    uris: Sequence[tuple[str, str]],
    publisher: KeyPublisher,
    check_bucket: Callable[[str], None],
    *,
    dry_run: bool,
) -> UriRequeue:
    """Publish one task per ``(bucket, key)``, after ``check_bucket`` passed for every bucket.

    Without the check, a typo in a bucket name would record a deleted object in a bucket
    that does not exist. A dry run checks the buckets and publishes nothing.
    """
    for name in sorted({bucket for bucket, _ in uris}):
        check_bucket(name)
    task_ids: list[str] = []
    for bucket, key in [] if dry_run else uris:
        try:
            task_ids.append(publisher.requeue(bucket, key))
        except PublishError as exc:
            if not task_ids:
                raise
            raise PublishError(f"{exc} (after queueing {counted(len(task_ids), 'task')})") from exc
    return UriRequeue(uris=uris, dry_run=dry_run, task_ids=task_ids)


def requeue_failed(
    reader: ObjectReader,
    publisher: KeyPublisher,
    *,
    since: datetime | None = None,
    bucket: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    on_key: Callable[[FailedKey, int], None] | None = None,
) -> FailedRequeue:
    """Publish a task for each key whose last attempt failed (at or after ``since``).

    Keys are streamed in the reader's order (``iter_failed_keys``), at most ``limit`` of
    them; ``on_key`` is called after each one is published (in a dry run, instead) with the
    count so far.
    Attempts ``unusable_attempt`` rejects, or whose task the publisher refuses as
    ``InvalidTaskArguments``, are counted as skipped, not published, and do not count
    toward ``limit``. An error after some were published says how far it got, in an error of
    the same type.
    """
    matched = 0
    skipped: list[Unusable] = []
    skipped_count = 0
    last: FailedKey | None = None

    def skip(failed_key: FailedKey, why: str) -> None:
        nonlocal skipped_count
        skipped_count += 1
        if len(skipped) < SKIPPED_EXAMPLES:
            skipped.append(Unusable(failed_key, why))

    try:
        with closing(reader.iter_failed_keys(since=since, bucket=bucket)) as keys:
            for failed_key in keys:
                if limit is not None and matched >= limit:
                    break
                why = unusable_attempt(failed_key)
                if why is not None:
                    skip(failed_key, why)
                    continue
                if not dry_run:
                    try:
                        publisher.requeue(failed_key.bucket, failed_key.key)
                    except InvalidTaskArguments as exc:  # nothing was sent
                        skip(failed_key, str(exc))
                        continue
                matched += 1
                last = failed_key
                if on_key is not None:
                    on_key(failed_key, matched)
    except S3MetaError as exc:
        if dry_run or last is None:
            raise
        # Safe to run again: the keys whose requeued task has finished no longer match.
        raise type(exc)(
            f"{exc} (after queueing {counted(matched, 'task')}, the last for {last.uri}; "
            "running the command again is safe)"
        ) from exc
    return FailedRequeue(
        since=since,
        bucket=bucket,
        dry_run=dry_run,
        matched=matched,
        skipped=skipped_count,
        skipped_examples=tuple(skipped),
    )


def unusable_attempt(failed_key: FailedKey) -> str | None:
    """Why no task could repeat ``failed_key``'s attempt, or ``None`` if one can.

    A refused call (``InvalidTaskArguments``) recorded what it was given, as a repr where that
    was no bucket or key (``123``, ``None``), so its names say nothing about an object. A
    stored bucket or key S3 does not allow would be refused again.
    """
    if failed_key.error_type == InvalidTaskArguments.__name__:
        return f"refused call: {failed_key.error}" if failed_key.error else "refused call"
    return bucket_name_problem(failed_key.bucket) or key_problem(failed_key.key)
