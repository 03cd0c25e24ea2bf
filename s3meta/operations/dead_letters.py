"""The dead-letter queue: looking at its messages, discarding some, and moving them back.

Moving sends a message back to the events queue with its original body and attributes (the
dead-lettering's own stay behind, so the bridge sees the event as it was sent) and deletes it
from the dead-letter queue only after the events queue accepted the copy.

Looking (``list_dead_letters``, ``find_dead_letter``, ``purge_dead_letters``) is a scan: each
message is received once, held invisible only for ``SCAN_VISIBILITY_TIMEOUT`` seconds at most,
and made visible again as soon as the scan ends, unless a purge deleted it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from s3meta.aws.sqs import (
    BATCH_LIMIT,
    ORIGINAL_ID_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_QUEUE_ATTRIBUTE,
    Attribute,
    QueueDepth,
    QueueMessage,
    original_attributes,
)
from s3meta.errors import S3MetaError

logger = logging.getLogger(__name__)

# Without a limit, at most this many move per run, so that a cause that is not fixed (the
# bridge dead-letters what was just moved) cannot keep a run busy forever.
DEAD_LETTER_CAP = 100_000
# Long enough to send a batch of ten to the events queue and delete it here.
MOVE_VISIBILITY_TIMEOUT = 120
# A scan holds what it received this long at most (it releases it when it ends): long enough
# not to receive the same messages again while it goes on, short enough to harm no one if
# the scan is killed.
SCAN_VISIBILITY_TIMEOUT = 30
# A long poll of 1 s asks every SQS server, so an empty answer means empty.
RECEIVE_WAIT_SECONDS = 1


class SourceQueue(Protocol):
    """The dead-letter queue, as moving needs it (``s3meta.aws.sqs.Queue``)."""

    name: str

    @property
    def url(self) -> str: ...

    def receive(
        self, *, wait_seconds: int, visibility_timeout: int, max_messages: int = BATCH_LIMIT
    ) -> list[QueueMessage]: ...

    def delete(self, messages: Sequence[QueueMessage]) -> list[str]: ...

    def release(self, messages: Sequence[QueueMessage]) -> None: ...

    def depth(self) -> QueueDepth: ...


class TargetQueue(Protocol):
    """The events queue, as moving needs it (``s3meta.aws.sqs.Queue``)."""

    name: str

    @property
    def url(self) -> str: ...

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message of the dead-letter queue, and what ``DeadLetters.send`` recorded on it."""

    message: QueueMessage

    @property
    def reason(self) -> str | None:
        return self.message.text(REASON_ATTRIBUTE)

    @property
    def source_queue(self) -> str | None:
        return self.message.text(SOURCE_QUEUE_ATTRIBUTE)

    @property
    def original_id(self) -> str | None:
        return self.message.text(ORIGINAL_ID_ATTRIBUTE)

    @property
    def receive_count(self) -> str | None:
        """The original's receive count when it was dead-lettered, as recorded (a string)."""
        return self.message.text(RECEIVE_COUNT_ATTRIBUTE)

    @property
    def original_attributes(self) -> dict[str, Attribute]:
        """The original message's own attributes (``s3meta.aws.sqs.original_attributes``)."""
        return original_attributes(self.message)

    def matches(self, reason: str | None) -> bool:
        """Whether the recorded reason contains ``reason``, ignoring case (``None``: any)."""
        if reason is None:
            return True
        return self.reason is not None and reason.casefold() in self.reason.casefold()


@dataclass(frozen=True, slots=True)
class MovePreview:
    """What a move would do: the queue's depth and a sample of its messages."""

    depth: QueueDepth
    would_move: int
    sample: Sequence[DeadLetter]


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


def preview_move(
    dead_letters: SourceQueue, events: TargetQueue, *, limit: int | None
) -> MovePreview:
    """How many messages a move would take (about), and up to 10 of them, left in place."""
    _ = events.url  # a missing events queue fails the dry run as it would fail the move
    depth = dead_letters.depth()
    sample = dead_letters.receive(wait_seconds=0, visibility_timeout=0, max_messages=BATCH_LIMIT)
    return MovePreview(
        depth=depth,
        would_move=depth.visible if limit is None else min(limit, depth.visible),
        sample=[DeadLetter(message) for message in sample],
    )


def move_dead_letters(
    dead_letters: SourceQueue,
    events: TargetQueue,
    *,
    limit: int | None,
    visibility_timeout: int = MOVE_VISIBILITY_TIMEOUT,
    wait_seconds: int = RECEIVE_WAIT_SECONDS,
    warn: Callable[[str], None] = logger.warning,
) -> MoveReport:
    """Move messages from ``dead_letters`` to ``events``: send the body, then delete.

    A message is deleted only after the events queue accepted its copy, so none is lost;
    if a send fails, what was sent is deleted, the rest released, and the error raised.
    Stops when the queue is empty, after ``limit`` (else ``DEAD_LETTER_CAP``) messages, or
    when a message this run moved comes back (dead-lettered again: the cause persists).
    A failed release is only passed to ``warn``: those messages reappear at their timeout.
    """
    _ = events.url, dead_letters.url  # a missing queue fails here, before anything moves
    cap = limit if limit is not None else DEAD_LETTER_CAP
    report = MoveReport()
    # Each round moves at least one message or stops, so ``cap`` rounds are enough.
    for _round in range(cap):
        batch = dead_letters.receive(
            wait_seconds=wait_seconds,
            visibility_timeout=visibility_timeout,
            max_messages=min(BATCH_LIMIT, cap - report.moved),
        )
        if not batch:
            report.stopped = "empty"
            return report
        returned = returned_copies(batch, report.sent_ids)
        fresh = [message for message in batch if message.message_id not in returned]
        sent: list[QueueMessage] = []
        try:
            for message in fresh:
                report.sent_ids.add(events.send(message.body, original_attributes(message)))
                sent.append(message)
        finally:
            # Whatever happens, what reached the events queue leaves this one, and what did
            # not is visible again at once.
            report.moved += len(sent)
            if sent:
                report.not_deleted += len(dead_letters.delete(sent))
            done = {message.message_id for message in sent}
            unsent = [message for message in batch if message.message_id not in done]
            _release(dead_letters, unsent, warn)
        if returned:
            report.came_back = len(returned)
            report.stopped = "came-back"
            return report
        if report.moved >= cap:
            break
    report.stopped = "limit" if limit is not None else "cap"
    return report


def returned_copies(batch: Sequence[QueueMessage], sent_ids: set[str]) -> set[str]:
    """Ids of the messages in ``batch`` that are copies this run sent, dead-lettered again.

    The bridge dead-letters a copy under a new id, recording the copy's id as the original.
    """
    return {
        message.message_id
        for message in batch
        if message.message_id in sent_ids or DeadLetter(message).original_id in sent_ids
    }


def _release(
    queue: SourceQueue, messages: Sequence[QueueMessage], warn: Callable[[str], None]
) -> None:
    if not messages:
        return
    try:
        queue.release(messages)
    except S3MetaError as exc:
        # Not worth failing the move over: they reappear after their visibility timeout.
        warn(f"{exc} (they reappear after their visibility timeout)")


@dataclass
class ScanReport:
    """What a scan of the dead-letter queue saw, and (a purge) deleted."""

    looked_at: int = 0
    matched: int = 0
    deleted: int = 0
    # Matched but not deleted (SQS refused, or the receipt expired): still in the queue.
    not_deleted: int = 0
    # empty: a receive found nothing more; seen-all: it brought only messages seen already;
    # cap: DEAD_LETTER_CAP messages looked at; limit, found: the caller had what it wanted.
    stopped: str = "empty"


class _Scan:
    """The messages of a queue, each once (by id), held until ``release``."""

    def __init__(self, queue: SourceQueue, *, visibility_timeout: int, wait_seconds: int) -> None:
        self.queue = queue
        self.visibility_timeout = visibility_timeout
        self.wait_seconds = wait_seconds
        self.report = ScanReport()
        # The latest receipt handle of each message held (without its body: a scan of a long
        # queue keeps only these).
        self._held: dict[str, QueueMessage] = {}

    def batches(self) -> Iterator[list[DeadLetter]]:
        """Batches of messages not seen before, until none is left or ``DEAD_LETTER_CAP``."""
        seen: set[str] = set()
        while len(seen) < DEAD_LETTER_CAP:  # each round sees a new message or stops
            batch = self.queue.receive(
                wait_seconds=self.wait_seconds, visibility_timeout=self.visibility_timeout
            )
            if not batch:
                self.report.stopped = "empty"
                return
            fresh: list[DeadLetter] = []
            for message in batch:
                self._held[message.message_id] = QueueMessage(
                    message.message_id, message.receipt_handle, "", message.receive_count
                )
                if message.message_id not in seen:
                    seen.add(message.message_id)
                    fresh.append(DeadLetter(message))
            if not fresh:
                # Only messages seen already: their timeout ended during a long scan.
                self.report.stopped = "seen-all"
                return
            self.report.looked_at += len(fresh)
            yield fresh
        self.report.stopped = "cap"

    def delete(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        held = [self._held.pop(letter.message.message_id) for letter in letters]
        failed = len(self.queue.delete(held))
        self.report.deleted += len(held) - failed
        self.report.not_deleted += failed

    def release(self, warn: Callable[[str], None]) -> None:
        held, self._held = list(self._held.values()), {}
        _release(self.queue, held, warn)


@contextmanager
def _scanning(
    queue: SourceQueue, *, visibility_timeout: int, wait_seconds: int, warn: Callable[[str], None]
) -> Iterator[_Scan]:
    _ = queue.url  # a missing queue fails here, before anything is received
    scan = _Scan(queue, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds)
    try:
        yield scan
    finally:
        scan.release(warn)


def list_dead_letters(
    queue: SourceQueue,
    on_letter: Callable[[DeadLetter], None],
    *,
    reason: str | None = None,
    limit: int | None = None,
    visibility_timeout: int = SCAN_VISIBILITY_TIMEOUT,
    wait_seconds: int = RECEIVE_WAIT_SECONDS,
    warn: Callable[[str], None] = logger.warning,
) -> ScanReport:
    """Pass each message whose reason contains ``reason`` to ``on_letter``, at most ``limit``.

    Nothing is deleted: every message received is visible again when this returns.
    """
    with _scanning(
        queue, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, warn=warn
    ) as scan:
        for batch in scan.batches():
            for letter in batch:
                if not letter.matches(reason):
                    continue
                on_letter(letter)
                scan.report.matched += 1
                if limit is not None and scan.report.matched >= limit:
                    scan.report.stopped = "limit"
                    return scan.report
    return scan.report


def find_dead_letter(
    queue: SourceQueue,
    message_id: str,
    *,
    visibility_timeout: int = SCAN_VISIBILITY_TIMEOUT,
    wait_seconds: int = RECEIVE_WAIT_SECONDS,
    warn: Callable[[str], None] = logger.warning,
) -> tuple[DeadLetter | None, ScanReport]:
    """The message ``message_id`` (``None`` if the scan did not find it), left in the queue."""
    with _scanning(
        queue, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, warn=warn
    ) as scan:
        for batch in scan.batches():
            for letter in batch:
                if letter.message.message_id == message_id:
                    scan.report.matched = 1
                    scan.report.stopped = "found"
                    return letter, scan.report
    return None, scan.report


def purge_dead_letters(
    queue: SourceQueue,
    *,
    reason: str | None = None,
    dry_run: bool = False,
    on_letter: Callable[[DeadLetter], None] | None = None,
    visibility_timeout: int = SCAN_VISIBILITY_TIMEOUT,
    wait_seconds: int = RECEIVE_WAIT_SECONDS,
    warn: Callable[[str], None] = logger.warning,
) -> ScanReport:
    """Delete each message whose reason contains ``reason`` (``None``: every message).

    The matching messages of each receive are deleted at once, and passed to ``on_letter``
    first; the others are made visible again when the scan ends. A dry run deletes nothing.
    """
    with _scanning(
        queue, visibility_timeout=visibility_timeout, wait_seconds=wait_seconds, warn=warn
    ) as scan:
        for batch in scan.batches():
            matching = [letter for letter in batch if letter.matches(reason)]
            scan.report.matched += len(matching)
            if on_letter is not None:
                for letter in matching:
                    on_letter(letter)
            if not dry_run:
                scan.delete(matching)
    return scan.report
