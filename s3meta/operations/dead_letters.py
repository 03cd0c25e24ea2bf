"""Moving dead-lettered event messages back to the events queue, once their cause is fixed.

A message is sent back with its original body (the dead-lettering's attributes stay
behind, so the bridge sees the event as S3 sent it) and deleted from the dead-letter queue
only after the events queue accepted the copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from s3meta.aws.sqs import (
    BATCH_LIMIT,
    ORIGINAL_ID_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_QUEUE_ATTRIBUTE,
    QueueDepth,
    QueueMessage,
)
from s3meta.errors import S3MetaError

logger = logging.getLogger(__name__)

# Without a limit, at most this many move per run, so that a cause that is not fixed (the
# bridge dead-letters what was just moved) cannot keep a run busy forever.
DEAD_LETTER_CAP = 100_000
# Long enough to send a batch of ten to the events queue and delete it here.
MOVE_VISIBILITY_TIMEOUT = 120
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

    def send(self, body: str, attributes: dict[str, str] | None = None) -> str: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message of the dead-letter queue, and what ``DeadLetters.send`` recorded on it."""

    message: QueueMessage

    @property
    def reason(self) -> str | None:
        return self.message.attributes.get(REASON_ATTRIBUTE)

    @property
    def source_queue(self) -> str | None:
        return self.message.attributes.get(SOURCE_QUEUE_ATTRIBUTE)

    @property
    def original_id(self) -> str | None:
        return self.message.attributes.get(ORIGINAL_ID_ATTRIBUTE)

    @property
    def receive_count(self) -> str | None:
        """The original's receive count when it was dead-lettered, as recorded (a string)."""
        return self.message.attributes.get(RECEIVE_COUNT_ATTRIBUTE)


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
                report.sent_ids.add(events.send(message.body))
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
