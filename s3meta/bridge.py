"""The bridge: S3 notifications on the events queue become ``extract_metadata`` tasks.

A message is deleted only after every task it yields was accepted by the broker, or after it
was copied to the dead-letter queue with the reason it is unusable. Anything short of that
leaves the message where it is, and SQS delivers it again: duplicates are harmless, as the
task is idempotent; losses are not.

The tasks of a whole received batch (up to ten messages, each of any number of records) are
published together, ten to an SQS SendMessageBatch request. SQS accepts or refuses each
task on its own: a message any of whose tasks was refused stays for redelivery, and those of
its tasks that were accepted run again when it comes back.

The messages that are done with are deleted ten to a DeleteMessageBatch, across loops: they
wait until ten are pending or the oldest has waited ``delete_delay`` seconds, and are all
deleted when the bridge stops, drains or finds the queue idle (``domain/polling.py``). A
bridge killed before that leaves them to come back after their visibility timeout: their
tasks run again, harmlessly. With a ``batch_window``, a receive that brought fewer than ten
messages waits that long and receives again, so that one publish carries more tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from itertools import islice
from typing import Protocol

from s3meta.aws.sqs import BATCH_LIMIT, DeadLetters, Queue, QueueDepth, QueueMessage
from s3meta.domain.event_names import is_known_event_name
from s3meta.domain.events import ObjectEvent, ParsedMessage, parse_body
from s3meta.domain.polling import PendingDeletes, default_delete_delay, fill_wait, timing_problem
from s3meta.errors import ConfigError, InvalidTaskArguments, PublishError, S3MetaError
from s3meta.health import Heartbeat

logger = logging.getLogger(__name__)

# Between failed receives: long enough not to hammer SQS, short enough to stop promptly.
_RECEIVE_BACKOFF = (1.0, 30.0)
# While a drain waits on messages in flight, it says so this often.
DRAIN_REPORT_EVERY = 30.0


# What became of one event's task: its id once the broker has it; ``PublishError`` if the
# broker may not have it; ``InvalidTaskArguments`` if no run could use it (nothing was sent).
Published = str | PublishError | InvalidTaskArguments


class TaskPublisher(Protocol):
    def publish_all(self, events: Sequence[ObjectEvent]) -> list[Published]:
        """Publish one task per event; for each event, in order, what became of its task."""
        ...


@dataclass
class BridgeStats:
    """What the bridge did; one instance is shared by its threads."""

    received: int = 0
    published: int = 0
    dead_lettered: int = 0
    test_events: int = 0
    deleted: int = 0
    kept_for_redelivery: int = 0
    receive_errors: int = 0
    task_ids: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, other: BridgeStats) -> None:
        with self._lock:
            for counter in fields(self):
                if counter.name.startswith("_") or counter.name == "task_ids":
                    continue
                setattr(
                    self, counter.name, getattr(self, counter.name) + getattr(other, counter.name)
                )
            self.task_ids += other.task_ids

    def summary(self) -> str:
        return (
            f"received={self.received} published={self.published} "
            f"dead_lettered={self.dead_lettered} test_events={self.test_events} "
            f"deleted={self.deleted} kept_for_redelivery={self.kept_for_redelivery}"
        )


@dataclass(frozen=True)
class BridgeOptions:
    wait_seconds: int = 20  # long polling: SQS's maximum
    visibility_timeout: int = 300  # must cover publishing a whole batch
    drain: bool = False  # stop once the events queue is empty
    # How long a drain waits for messages in flight (held by another consumer, or by one
    # that stopped, until their visibility timeout ends); None: ``visibility_timeout``.
    drain_timeout: float | None = None
    keep_task_ids: bool = False  # the demo waits on them; a long-running bridge must not
    # Seconds a settled message may wait for nine more before its delete; None: 3 s, or a
    # quarter of a visibility timeout shorter than 12 s.
    delete_delay: float | None = None
    # Seconds a receive that brought fewer than ten messages waits to top them up (0: none).
    batch_window: float = 0.0

    def __post_init__(self) -> None:
        problem = timing_problem(self.delete_delay_seconds, self.batch_window,
                                 self.visibility_timeout)  # fmt: skip
        if problem:
            raise ConfigError(f"bridge: {problem}")

    @property
    def delete_delay_seconds(self) -> float:
        if self.delete_delay is None:
            return default_delete_delay(self.visibility_timeout)
        return self.delete_delay


class Clock(Protocol):
    """Monotonic time, and waits that end early when the bridge is stopped."""

    def now(self) -> float: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait ``seconds`` or until ``stop`` is set; whether it is."""
        ...


class SystemClock:
    """``Clock`` on ``time.monotonic``; ``memory.ManualClock`` is its twin."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)


class Bridge:
    """Moves events from the events queue to Celery, one batch of up to 10 messages at a time."""

    def __init__(
        self,
        events: Queue,
        dead_letters: DeadLetters,
        publisher: TaskPublisher,
        options: BridgeOptions,
        heartbeat: Heartbeat | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.events = events
        self.dead_letters = dead_letters
        self.publisher = publisher
        self.options = options
        self.heartbeat = heartbeat or Heartbeat(None)
        self.clock: Clock = clock or SystemClock()
        self.stats = BridgeStats()
        # What a drain left on the queue when it gave up waiting; None if it emptied it.
        self.unfinished: QueueDepth | None = None
        self._stop = threading.Event()
        self._drain_waiting: tuple[float, float] | None = None  # (since, last said)
        self._failures = 0  # receives failed in a row
        # Settled messages (every task accepted, or dead-lettered) waiting for their delete.
        self.pending: PendingDeletes[QueueMessage] = PendingDeletes(options.delete_delay_seconds)

    def stop(self) -> None:
        """Finish the batch at hand, delete the messages done with, then return from ``run``."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> BridgeStats:
        """Receive and handle batches until stopped (or, with ``drain``, the queue is empty);
        every message done with is deleted before it returns."""
        try:
            while not self._stop.is_set() and self.poll_once():
                pass
        finally:
            self.flush()
        return self.stats

    def poll_once(self) -> bool:
        """One loop: receive, publish and settle a batch, delete what is due; False once a
        drain is over."""
        try:
            batch = self._receive()
            if batch:
                self._drain_waiting = None
            else:
                # An idle queue: no more messages to share a delete request with.
                self.flush()
                if self.options.drain and self._drained(self.events.depth()):
                    return False
        except S3MetaError as exc:
            self._failures += 1
            self.stats.add(BridgeStats(receive_errors=1))
            delay = min(_RECEIVE_BACKOFF[1], _RECEIVE_BACKOFF[0] * 2 ** min(self._failures, 5))
            logger.error("receive failed (%s); trying again in %.0f s", exc, delay)
            self.flush()  # rather than let the pending deletes wait out the backoff
            self.clock.wait(self._stop, delay)
            return True
        self._failures = 0
        # Only a receive that answered counts as alive: a bridge that cannot reach SQS
        # lets the file age and turns unhealthy.
        self.heartbeat.beat()
        if batch:
            stats = self._settle_batch(batch)
            stats.deleted = self._delete(self.pending.take_due(self.clock.now()))
            self._record(stats)
        return True

    def flush(self) -> int:
        """Delete every message done with now; how many SQS deleted."""
        deleted = self._delete(self.pending.take_all())
        self.stats.add(BridgeStats(deleted=deleted))
        return deleted

    def _receive(self) -> list[QueueMessage]:
        """A batch: one receive, whose long poll ends by the pending deletes' deadline; with a
        batch window, topped up by a second receive once the window has passed."""
        options = self.options
        wait = self.pending.receive_wait(self.clock.now(), options.wait_seconds)
        batch = self.events.receive(
            wait_seconds=wait, visibility_timeout=options.visibility_timeout
        )
        pause = fill_wait(len(batch), options.batch_window)
        if not pause or self.clock.wait(self._stop, pause):
            return batch
        try:
            # A short poll: SQS may then sample only some of its servers and bring fewer than
            # are there; the next receive takes the rest.
            more = self.events.receive(
                wait_seconds=0,
                visibility_timeout=options.visibility_timeout,
                max_messages=BATCH_LIMIT - len(batch),
            )
        except S3MetaError as exc:
            logger.error("topping up the batch failed (%s); handling %d messages", exc, len(batch))
            return batch
        return batch + more

    def _drained(self, depth: QueueDepth) -> bool:
        """Whether a drain ends: the queue is empty, or its wait for messages in flight is over.

        Messages in flight are another consumer's, or were left by one that stopped and
        return when their visibility timeout ends; the wait says so, and is bounded.
        """
        if depth.total == 0:
            return True
        now = self.clock.now()
        bound = self.options.drain_timeout
        if bound is None:
            bound = float(self.options.visibility_timeout)
        if self._drain_waiting is None:
            self._drain_waiting = (now, now)
            logger.info(
                "draining %s: no message visible, but %d in flight and %d delayed; waiting up "
                "to %.0f s for them (another consumer holds them, or one that stopped left "
                "them until their visibility timeout ends)",
                self.events.name, depth.in_flight, depth.delayed, bound,
            )  # fmt: skip
            return False
        since, said = self._drain_waiting
        if now - since >= bound:
            self.unfinished = depth
            logger.warning(
                "draining %s: gave up after %.0f s with %d messages in flight and %d delayed; "
                "they return to the queue when their visibility timeout ends",
                self.events.name, now - since, depth.in_flight, depth.delayed,
            )  # fmt: skip
            return True
        if now - said >= DRAIN_REPORT_EVERY:
            self._drain_waiting = (since, now)
            logger.info(
                "draining %s: still waiting for %d messages in flight (%.0f s of %.0f s)",
                self.events.name, depth.in_flight + depth.delayed, now - since, bound,
            )  # fmt: skip
        return False

    def handle_batch(self, batch: list[QueueMessage]) -> BridgeStats:
        """Publish the tasks of every message together, then delete the messages that are
        done with (and any still pending) at once."""
        stats = self._settle_batch(batch)
        stats.deleted = self._delete(self.pending.take_all())
        self._record(stats)
        return stats

    def _settle_batch(self, batch: list[QueueMessage]) -> BridgeStats:
        """Publish the tasks of every message together; the messages done with join the
        pending deletes."""
        stats = BridgeStats(received=len(batch))
        parsed = [parse_body(message.body) for message in batch]
        published = self._publish([each.events for each in parsed])
        done = [
            message
            for message, each, outcomes in zip(batch, parsed, published, strict=True)
            if self._settle(message, each, outcomes, stats)
        ]
        stats.kept_for_redelivery = len(batch) - len(done)
        self.pending.add(done, self.clock.now())
        return stats

    def _record(self, stats: BridgeStats) -> None:
        if not self.options.keep_task_ids:
            stats.task_ids.clear()
        logger.info("batch: %s, %d awaiting delete", stats.summary(), len(self.pending))
        self.stats.add(stats)

    def _delete(self, done: list[QueueMessage]) -> int:
        """Delete ``done`` (ten to a request); how many SQS deleted."""
        if not done:
            return 0
        try:
            failed = self.events.delete(done)
        except S3MetaError as exc:
            # Not deleted means delivered again: the tasks run twice, harmlessly.
            logger.error("could not delete %d handled messages: %s", len(done), exc)
            failed = [message.message_id for message in done]
        if failed:
            logger.warning("SQS did not delete %d messages: %s", len(failed), failed)
        return len(done) - len(failed)

    def _publish(self, events: list[tuple[ObjectEvent, ...]]) -> list[list[Published]]:
        """Publish every message's events in one call; what became of each, per message."""
        flat = [event for each in events for event in each]
        outcomes = self.publisher.publish_all(flat) if flat else []
        if len(outcomes) != len(flat):
            raise RuntimeError(f"the publisher answered {len(outcomes)} of {len(flat)} tasks")
        answered = iter(outcomes)
        return [list(islice(answered, len(each))) for each in events]

    def _settle(
        self,
        message: QueueMessage,
        parsed: ParsedMessage,
        outcomes: list[Published],
        stats: BridgeStats,
    ) -> bool:
        """Count what became of the message's tasks, dead-letter it if unusable; True if it
        may be deleted."""
        if parsed.test_event:
            stats.test_events += 1
            logger.info("s3:TestEvent acknowledged (message %s)", message.message_id)
            return True
        refused: PublishError | None = None
        unusable: list[str] = []
        for event, outcome in zip(parsed.events, outcomes, strict=True):
            if isinstance(outcome, str):
                stats.task_ids.append(outcome)
                stats.published += 1
                if not is_known_event_name(event.event_name):
                    logger.warning("unfamiliar event %r indexed anyway", event.event_name)
            elif isinstance(outcome, InvalidTaskArguments):
                unusable.append(str(outcome))
            elif refused is None:
                refused = outcome
        if refused is not None:
            logger.error("%s; message %s kept for redelivery", refused, message.message_id)
            return False
        reason = dead_letter_reason(parsed, unusable)
        if reason is None:
            return True
        return self._dead_letter(message, reason, stats)

    def _dead_letter(self, message: QueueMessage, reason: str, stats: BridgeStats) -> bool:
        if not dead_letter(self.dead_letters, message, reason, source_queue=self.events.name):
            return False
        stats.dead_lettered += 1
        return True


def dead_letter_reason(parsed: ParsedMessage, unusable: Sequence[str] = ()) -> str | None:
    """Why a message goes to the dead-letter queue: what of its body could not be parsed and
    the events no run could use (``unusable``); None if it does not go."""
    reasons = [reason for reason in (parsed.rejected, *unusable) if reason]
    return "; ".join(reasons) if reasons else None


def dead_letter(
    dead_letters: DeadLetters, message: QueueMessage, reason: str, *, source_queue: str
) -> bool:
    """Copy ``message`` to the dead-letter queue with ``reason``; False (logged) if SQS did
    not take it, and then the message must stay for redelivery."""
    try:
        dead_letters.send(message, reason, source_queue=source_queue)
    except S3MetaError as exc:
        logger.error(
            "could not dead-letter message %s (%s): %s; kept for redelivery",
            message.message_id, reason, exc,
        )  # fmt: skip
        return False
    logger.warning(
        "message %s dead-lettered to %s: %s",
        message.message_id, dead_letters.queue.name, reason,
    )  # fmt: skip
    return True


def run_threads(bridges: list[Bridge], poll: float = 0.5) -> BridgeStats:
    """Run each bridge in its own thread until all return; ``stop`` them to end early."""
    threads = [
        threading.Thread(target=bridge.run, name=f"bridge-{n}", daemon=True)
        for n, bridge in enumerate(bridges)
    ]
    for thread in threads:
        thread.start()
    # Join with a timeout so that the main thread stays free to take signals.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=poll)
    total = BridgeStats()
    for bridge in bridges:
        total.add(bridge.stats)
    return total


def wait_seconds_for(drain: bool, requested: int | None) -> int:
    """Long polling's wait: SQS's maximum normally; short when draining, to end promptly."""
    if requested is not None:
        return requested
    return 1 if drain else 20
