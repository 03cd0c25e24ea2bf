"""In-memory twins of s3meta's ports, for unit tests: the same rules, no AWS, no database.

- ``MemoryObjects``: S3's objects, for ``s3meta.indexing.ObjectStorage``.
- ``MemoryStore``: records, journal, attempts and prefix totals, for
  ``s3meta.indexing.IndexStore``; it applies ``s3meta.domain.transitions`` and the deltas of
  ``s3meta.domain.totals`` as ``db.store.MetadataStore`` does.
- ``MemoryMetrics``: counts, for ``s3meta.indexing.IndexMetrics``.
- ``MemoryQueue``: an SQS queue, for ``s3meta.aws.sqs.Queue``; with a ``ManualClock``,
  messages may arrive later and a receive long-polls for them.
- ``ManualClock``: time that moves only when told or waited on, for ``s3meta.bridge.Clock``.
- ``MemoryPublisher``: a broker, for ``s3meta.bridge.TaskPublisher``.
- ``MemoryOutbox``: the change feed's outbox, for ``s3meta.relay.Outbox``; ``MemoryStore``
  writes it with ``feed=True``. ``MemoryFeed``: a topic, for ``s3meta.relay.Publisher``.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from s3meta.aws.sqs import ATTRIBUTE_LIMIT, BATCH_LIMIT, Attribute, QueueDepth, QueueMessage
from s3meta.bridge import Published
from s3meta.domain.attempts import Attempt
from s3meta.domain.cached import CachedRecord, stamp
from s3meta.domain.changes import REQUEST_LIMIT, PendingChange, change_message
from s3meta.domain.events import ObjectEvent
from s3meta.domain.metrics import Counter
from s3meta.domain.objects import ObjectState
from s3meta.domain.records import JournalRecord, ObjectRecord, TaskResultRecord, VersionRecord
from s3meta.domain.totals import Total, TotalKey, TotalsRule, deltas
from s3meta.domain.transitions import Applied, Change, transition
from s3meta.domain.versions import versioned_transition
from s3meta.errors import (
    CacheUnavailable,
    DeleteMarkerFound,
    InvalidTaskArguments,
    ObjectNotFound,
    PermanentError,
    PublishError,
    QueueNotFound,
    QueueUnavailable,
    UnusableVersionId,
)

# When MemoryQueue's first message was sent; the N-th was sent N seconds later.
SENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

Key = tuple[str, str]  # (bucket, key)


def _now() -> datetime:
    return datetime.now(UTC)


class MemoryObjects:
    """Objects by bucket and key; ``fail`` makes the next looks at a key raise.

    A state with a version id is a version of its key: the key's versions are kept oldest
    first (None for a delete marker), and its current state is the newest, as in a
    versioned bucket.
    """

    def __init__(self) -> None:
        self.objects: dict[Key, ObjectState] = {}
        self.versions: dict[Key, list[tuple[str, ObjectState | None]]] = {}
        self.looks: list[Key] = []  # every head, in order
        self._failures: dict[Key, list[Exception]] = {}

    def put(self, state: ObjectState) -> None:
        self.objects[state.bucket, state.key] = state
        if state.version_id is not None:
            self.versions.setdefault((state.bucket, state.key), []).append(
                (state.version_id, state)
            )

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def add_delete_marker(self, bucket: str, key: str, version_id: str) -> None:
        """A DELETE without a version, in a versioned bucket."""
        self.versions.setdefault((bucket, key), []).append((version_id, None))
        self.objects.pop((bucket, key), None)

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        """A DELETE of one version (or delete marker): the one before it may be current again."""
        kept = [each for each in self.versions.get((bucket, key), []) if each[0] != version_id]
        self.versions[bucket, key] = kept
        latest = kept[-1][1] if kept else None
        if latest is None:
            self.objects.pop((bucket, key), None)
        else:
            self.objects[bucket, key] = latest

    def fail(self, bucket: str, key: str, *errors: Exception) -> None:
        """The next heads of ``bucket``/``key`` raise ``errors``, one each, in order."""
        self._failures.setdefault((bucket, key), []).extend(errors)

    def head(
        self, bucket: str, key: str, *, with_tags: bool = False, version_id: str | None = None
    ) -> ObjectState:
        """The object's state, or ``version_id``'s (its tags only ``with_tags``);
        ``ObjectNotFound`` if none, ``DeleteMarkerFound`` for a delete marker."""
        self.looks.append((bucket, key))
        pending = self._failures.get((bucket, key))
        if pending:
            raise pending.pop(0)
        versions = self.versions.get((bucket, key), [])
        if version_id is not None and (bucket, key) in self.objects and not versions:
            # As S3 answers a version id for a key it keeps no versions of: 400.
            raise UnusableVersionId(f"s3://{bucket}/{key}: version {version_id!r}")
        if version_id is not None:
            found = [each for each in versions if each[0] == version_id]
            if not found:
                raise ObjectNotFound(f"s3://{bucket}/{key} has no version {version_id}")
            state = found[0][1]
        else:
            state = self.objects.get((bucket, key))
            if state is None and versions and versions[-1][1] is None:
                version_id = versions[-1][0]
        if state is None and version_id is not None:
            raise DeleteMarkerFound(f"s3://{bucket}/{key} is a delete marker", version_id)
        if state is None:
            raise ObjectNotFound(f"s3://{bucket}/{key} does not exist")
        return state if with_tags else replace(state, tags=None)


class MemoryStore:
    """Records, journal and attempts in memory; ``apply`` holds a lock as a row lock would."""

    def __init__(
        self,
        clock: Callable[[], datetime] = _now,
        totals: TotalsRule | None = None,
        *,
        feed: bool = False,
    ) -> None:
        self.records: dict[Key, ObjectRecord] = {}
        self.versions: dict[Key, dict[str, VersionRecord]] = {}  # by version id
        self.rule = totals or TotalsRule()
        self.shards: dict[tuple[TotalKey, int], Total] = {}  # by total and shard
        self.journal: list[JournalRecord] = []  # entry N has journal id N + 1
        self.outbox = MemoryOutbox() if feed else None
        self.attempts: list[Attempt] = []
        self.results: dict[str, TaskResultRecord] = {}  # by task id
        self._clock = clock
        self._lock = threading.Lock()

    def apply(
        self,
        change: Change,
        attempt: Attempt | None = None,
        result: Callable[[Applied], TaskResultRecord] | None = None,
    ) -> Applied:
        with self._lock:
            now = self._clock()
            before = self.records.get((change.bucket, change.key))
            if change.version_id() is None:
                decided = transition(before, change, now)
            else:
                versions = self.versions.setdefault((change.bucket, change.key), {})
                decided = versioned_transition(before, versions.values(), change, now)
                if decided.version is not None:
                    versions[str(decided.version.version_id)] = decided.version
            if decided.record is not None:
                self.records[change.bucket, change.key] = decided.record
                for delta in deltas(self.rule, before, decided.record):
                    shard = (delta.key, delta.shard)
                    self.shards[shard] = self.shards.get(shard, Total()) + delta.change
            if decided.journal is not None:
                self.journal.append(decided.journal)
                if self.outbox is not None:
                    self.outbox.add(len(self.journal), decided.journal)
            if attempt is not None:
                self.attempts.append(attempt.ended(decided.outcome, now))
            applied = decided.applied()
            if result is not None:
                record = result(applied)
                stored = self.results.get(record.task_id)
                if stored is None or stored.status != "SUCCESS":  # never replaced, as Celery's
                    self.results[record.task_id] = record
            return applied

    def record_attempt(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append(attempt)

    def get(self, bucket: str, key: str) -> ObjectRecord | None:
        return self.records.get((bucket, key))

    def totals(self) -> dict[TotalKey, Total]:
        """Every total not of nothing, its shards summed."""
        sums: dict[TotalKey, Total] = {}
        for (key, _), total in self.shards.items():
            sums[key] = sums.get(key, Total()) + total
        return {key: total for key, total in sums.items() if total}

    def history(self, bucket: str, key: str) -> list[JournalRecord]:
        """The journal of ``bucket``/``key``, oldest first."""
        return [e for e in self.journal if (e.bucket, e.object_key) == (bucket, key)]

    def attempts_of(self, bucket: str, key: str) -> list[Attempt]:
        """Every recorded run for ``bucket``/``key``, oldest first."""
        return [each for each in self.attempts if (each.bucket, each.key) == (bucket, key)]


class MemoryOutbox:
    """Outbox rows in order; a take holds one lock (relays take turns, as on SQLite)."""

    def __init__(self) -> None:
        self.rows: list[PendingChange] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, journal_id: int, entry: JournalRecord) -> None:
        self.rows.append(PendingChange(next(self._ids), journal_id, entry))

    def take(self, limit: int, send: Callable[[Sequence[PendingChange]], Sequence[int]]) -> int:
        """As ``db.outbox.OutboxTable.take``: rows of what ``send`` returns are deleted,
        and none if it raises (a relay that died before its commit)."""
        with self._lock:
            claimed = self.rows[:limit]
            if claimed:
                done = set(send(claimed))
                self.rows = [row for row in self.rows if row.outbox_id not in done]
            return len(claimed)


class MemoryFeed:
    """A topic that keeps every message body it accepts (``bodies``), in order.

    ``refuse(key, times)`` refuses that key's next ``times`` entries, as a batch entry that
    failed; ``down`` fails every request as an unreachable endpoint does.
    """

    where = "memory topic"

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.requests: list[int] = []  # entries per request
        self.down = False
        self._refusals: Tally[Key] = Tally()

    def refuse(self, bucket: str, key: str, times: int = 1) -> None:
        self._refusals[bucket, key] += times

    def publish(self, changes: Sequence[PendingChange]) -> dict[int, str]:
        if len(changes) > REQUEST_LIMIT:
            raise ValueError(f"at most {REQUEST_LIMIT} changes a request")
        if self.down:
            raise QueueUnavailable("memory topic: unreachable")
        self.requests.append(len(changes))
        refused: dict[int, str] = {}
        for change in changes:
            if self._refusals[change.key] > 0:
                self._refusals[change.key] -= 1
                refused[change.outbox_id] = "Throttled: try again"
                continue
            self.bodies.append(change_message(change.journal_id, change.entry))
        return refused


class MemoryMetrics:
    """What was counted, and each event-to-row lag."""

    def __init__(self) -> None:
        self.counts: Tally[Counter] = Tally()
        self.lags: list[float] = []

    def record_indexed(self, lag_seconds: float | None = None) -> None:
        self.counts[Counter.INDEXED] += 1
        if lag_seconds is not None:
            self.lags.append(lag_seconds)

    def record_skipped(self) -> None:
        self.counts[Counter.SKIPPED] += 1

    def record_failure(self) -> None:
        self.counts[Counter.FAILURES] += 1

    def record_retry(self) -> None:
        self.counts[Counter.RETRIES] += 1

    def flush(self) -> bool:
        return True


class ManualClock:
    """Seconds that pass only through ``advance`` and ``wait`` (the bridge's waits)."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if not stop.is_set():
            self.time += seconds
        return stop.is_set()


class MemoryQueue:
    """Visible messages in order; a receive with a visibility timeout takes them in flight.

    Message ids are ``NAME-N``, the receipt handle is the id, and the N-th message was
    sent N seconds after ``SENT``. ``missing`` makes every call fail as for a queue that
    does not exist; a send of more than 10 attributes fails as SQS refuses it. ``release``
    stands in for a visibility timeout running out.

    With a ``clock``, ``send_later(body, T)`` makes a message visible at time T (as a message
    sent with a delay, counted as delayed until then), and a receive that finds none visible
    long-polls: the clock moves to the next arrival, or by the receive's wait if none comes
    sooner.
    """

    def __init__(
        self, name: str, *, missing: bool = False, clock: ManualClock | None = None
    ) -> None:
        self.name = name
        self.missing = missing
        self.clock = clock
        self.visible: list[QueueMessage] = []
        self.in_flight: dict[str, QueueMessage] = {}
        self.deleted: list[QueueMessage] = []
        self.received = 0  # receive and peek calls
        self.waits: list[int] = []  # each receive's wait_seconds
        self.delete_requests: list[int] = []  # messages per DeleteMessageBatch, as SQS counts
        self._arriving: list[tuple[float, QueueMessage]] = []
        self._numbers = itertools.count()

    @property
    def url(self) -> str:
        if self.missing:
            raise QueueNotFound(f"SQS queue {self.name!r}: no such queue (run `s3meta setup`)")
        return f"memory://{self.name}"

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
        self.visible.append(self._message(body, attributes))
        return self.visible[-1].message_id

    def send_later(self, body: str, at: float) -> str:
        """A message that becomes visible at ``at`` on the queue's clock."""
        if self.clock is None:
            raise ValueError("a message that arrives later needs the queue's clock")
        message = self._message(body, None)
        self._arriving.append((at, message))
        self._arriving.sort(key=lambda arriving: arriving[0])
        return message.message_id

    def _message(self, body: str, attributes: Mapping[str, Attribute] | None) -> QueueMessage:
        _ = self.url
        if len(attributes or {}) > ATTRIBUTE_LIMIT:
            raise PermanentError(
                f"SQS send to {self.name!r}: InvalidParameterValue: Number of message "
                f"attributes [{len(attributes or {})}] exceeds the allowed maximum "
                f"[{ATTRIBUTE_LIMIT}]."
            )
        number = next(self._numbers)
        message_id = f"{self.name}-{number}"
        return QueueMessage(
            message_id,
            message_id,
            body,
            receive_count=0,
            attributes=dict(attributes or {}),
            sent_at=SENT + timedelta(seconds=number),
        )

    def _arrive(self, wait_seconds: int) -> None:
        """Messages due by now become visible; if none is, wait up to ``wait_seconds``."""
        if self.clock is None:
            return
        if not self.visible and self._arriving and wait_seconds > 0:
            next_at = self._arriving[0][0]
            self.clock.time = max(self.clock.time, min(next_at, self.clock.time + wait_seconds))
        elif not self.visible and wait_seconds > 0:
            self.clock.advance(wait_seconds)
        while self._arriving and self._arriving[0][0] <= self.clock.time:
            self.visible.append(self._arriving.pop(0)[1])

    def receive(
        self, *, wait_seconds: int, visibility_timeout: int, max_messages: int = BATCH_LIMIT
    ) -> list[QueueMessage]:
        _ = self.url
        self.received += 1
        self.waits.append(wait_seconds)
        self._arrive(wait_seconds)
        batch = self.visible[: min(max_messages, BATCH_LIMIT)]
        if visibility_timeout > 0:
            del self.visible[: len(batch)]
            self.in_flight.update((message.message_id, message) for message in batch)
        return batch

    def peek(self, *, wait_seconds: int) -> list[QueueMessage]:
        return self.receive(wait_seconds=wait_seconds, visibility_timeout=0)

    def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
        self.delete_requests += [
            min(BATCH_LIMIT, len(messages) - start)
            for start in range(0, len(messages), BATCH_LIMIT)
        ]
        for message in messages:
            self.deleted.append(self.in_flight.pop(message.message_id))
        return []

    def release(self, messages: Sequence[QueueMessage]) -> None:
        self.visible[:0] = [self.in_flight.pop(message.message_id) for message in messages]

    def depth(self) -> QueueDepth:
        _ = self.url
        return QueueDepth(
            visible=len(self.visible), in_flight=len(self.in_flight), delayed=len(self._arriving)
        )

    def bodies(self) -> list[str]:
        """The bodies of the visible messages, in order."""
        return [message.body for message in self.visible]


class MemoryPublisher:
    """Accepts every task, keeping its event, but for keys it was told to ``refuse``.

    ``calls`` holds the number of events of each ``publish_all``, in order.
    """

    def __init__(self) -> None:
        self.events: list[ObjectEvent] = []
        self.refused: dict[Key, PublishError | InvalidTaskArguments] = {}
        self.calls: list[int] = []

    def refuse(
        self, bucket: str, key: str, error: PublishError | InvalidTaskArguments | None = None
    ) -> None:
        """Fail the tasks for ``bucket``/``key`` with ``error``: by default as a broker that
        is away would, each on its own as SQS refuses entries of a batch."""
        self.refused[bucket, key] = error or PublishError(
            f"could not publish the task for s3://{bucket}/{key}"
        )

    def publish_all(self, events: Sequence[ObjectEvent]) -> list[Published]:
        self.calls.append(len(events))
        outcomes: list[Published] = []
        for event in events:
            refused = self.refused.get((event.bucket, event.key))
            if refused is not None:
                outcomes.append(refused)
                continue
            self.events.append(event)
            outcomes.append(f"task-{len(self.events)}")
        return outcomes


class MemoryCache:
    """``s3meta.caching.ObjectCache`` in memory: the latest stamp of a key stands, compared
    and set under one lock as Redis's script does. ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.entries: dict[Key, tuple[int, ObjectRecord, datetime]] = {}
        self.down = False
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str) -> CachedRecord | None:
        self._check()
        with self._lock:
            found = self.entries.get((bucket, key))
        return None if found is None else CachedRecord(found[1], found[2])

    def put(self, record: ObjectRecord, now: datetime) -> bool:
        self._check()
        incoming = stamp(record)
        with self._lock:
            found = self.entries.get((record.bucket, record.object_key))
            if found is not None and found[0] > incoming:
                return False
            self.entries[record.bucket, record.object_key] = (incoming, record, now)
        return True

    def ping(self) -> None:
        self._check()

    def _check(self) -> None:
        if self.down:
            raise CacheUnavailable("cache unavailable: the memory cache is down")
