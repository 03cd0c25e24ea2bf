"""``s3meta.operations.dead_letters``: moving dead letters back, on queues in memory."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from s3meta.aws.sqs import DeadLetters, QueueMessage
from s3meta.errors import QueueNotFound, QueueUnavailable, S3MetaError
from s3meta.memory import MemoryQueue
from s3meta.operations import dead_letters
from s3meta.operations.dead_letters import (
    DeadLetter,
    move_dead_letters,
    preview_move,
    returned_copies,
)


def dead_letter(queue: MemoryQueue, message: QueueMessage, reason: str, source: str) -> None:
    """Put ``message`` on ``queue`` as the bridge dead-letters it (``DeadLetters.send``)."""
    # DeadLetters is typed for the SQS Queue; the memory queue has the same send.
    DeadLetters(queue).send(message, reason, source)  # type: ignore[arg-type]


def dead_letter_queue(*bodies: str, queue: MemoryQueue | None = None) -> MemoryQueue:
    """A dead-letter queue (``queue``, else a new one) holding ``bodies``, dead-lettered."""
    queue = queue or MemoryQueue("dlq")
    for index, body in enumerate(bodies):
        message = QueueMessage(f"original-{index}", "receipt", body, receive_count=3)
        dead_letter(queue, message, f"unusable body number {index}", "events")
    return queue


class RefusingQueue(MemoryQueue):
    """An events queue that accepts ``accepted`` messages, then fails every send."""

    def __init__(self, accepted: int) -> None:
        super().__init__("events")
        self.accepted = accepted

    def send(self, body: str, attributes: dict[str, str] | None = None) -> str:
        if len(self.visible) >= self.accepted:
            raise QueueUnavailable("SQS send to 'events': throttled")
        return super().send(body, attributes)


class RejectingBridge(MemoryQueue):
    """An events queue whose bridge dead-letters every message again at once."""

    def __init__(self, dlq: MemoryQueue) -> None:
        super().__init__("events")
        self.dlq = dlq

    def send(self, body: str, attributes: dict[str, str] | None = None) -> str:
        message_id = super().send(body, attributes)
        copy = QueueMessage(message_id, message_id, body, receive_count=1)
        dead_letter(self.dlq, copy, "still unusable", self.name)
        return message_id


def test_every_dead_letter_moves_with_its_body_and_without_its_attributes() -> None:
    bodies = [f"body {n}" for n in range(23)]
    dlq, events = dead_letter_queue(*bodies), MemoryQueue("events")

    report = move_dead_letters(dlq, events, limit=None)

    assert (report.moved, report.stopped, report.not_deleted, report.came_back) == (
        23,
        "empty",
        0,
        0,
    )
    assert events.bodies() == bodies
    assert all(not message.attributes for message in events.visible)
    assert dlq.depth().total == 0
    assert [message.body for message in dlq.deleted] == bodies


def test_a_limit_stops_the_move_after_that_many_messages() -> None:
    dlq, events = dead_letter_queue(*(f"body {n}" for n in range(23))), MemoryQueue("events")

    report = move_dead_letters(dlq, events, limit=12)

    assert (report.moved, report.stopped) == (12, "limit")
    assert len(events.visible) == 12
    assert (dlq.depth().visible, dlq.depth().in_flight) == (11, 0)


def test_without_a_limit_the_move_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dead_letters, "DEAD_LETTER_CAP", 3)
    dlq, events = dead_letter_queue("a", "b", "c", "d"), MemoryQueue("events")

    report = move_dead_letters(dlq, events, limit=None)

    assert (report.moved, report.stopped) == (3, "cap")
    assert dlq.bodies() == ["d"]


def test_a_failed_send_deletes_what_was_sent_releases_the_rest_and_is_raised() -> None:
    dlq, events = dead_letter_queue("a", "b", "c", "d"), RefusingQueue(accepted=2)

    with pytest.raises(QueueUnavailable, match="throttled"):
        move_dead_letters(dlq, events, limit=None)

    assert events.bodies() == ["a", "b"]
    assert [message.body for message in dlq.deleted] == ["a", "b"]
    assert dlq.bodies() == ["c", "d"]
    assert dlq.in_flight == {}


def test_a_missing_events_queue_fails_before_anything_is_received() -> None:
    dlq = dead_letter_queue("a")

    with pytest.raises(QueueNotFound):
        move_dead_letters(dlq, MemoryQueue("events", missing=True), limit=None)

    assert dlq.received == 0
    assert dlq.bodies() == ["a"]


def test_dead_letters_that_come_back_stop_the_move_and_stay_visible() -> None:
    dlq = dead_letter_queue("bad body")
    events = RejectingBridge(dlq)

    report = move_dead_letters(dlq, events, limit=None)

    assert (report.moved, report.came_back, report.stopped) == (1, 1, "came-back")
    assert dlq.bodies() == ["bad body"]
    assert dlq.in_flight == {}


def test_a_failed_release_is_a_warning_not_an_error() -> None:
    class Unreleasable(MemoryQueue):
        def release(self, messages: object) -> None:
            raise QueueUnavailable("SQS release messages on 'dlq': throttled")

    dlq = dead_letter_queue("bad body", queue=Unreleasable("dlq"))
    warnings: list[str] = []

    report = move_dead_letters(dlq, RejectingBridge(dlq), limit=None, warn=warnings.append)

    assert report.stopped == "came-back"
    assert warnings == [
        "SQS release messages on 'dlq': throttled (they reappear after their visibility timeout)"
    ]


def test_messages_sqs_did_not_delete_are_counted() -> None:
    class Undeletable(MemoryQueue):
        def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
            super().delete(messages)
            return [message.message_id for message in messages]

    dlq = Undeletable("dlq")
    for body in ("a", "b"):
        dlq.send(body)

    report = move_dead_letters(dlq, MemoryQueue("events"), limit=None)

    assert (report.moved, report.not_deleted) == (2, 2)


def test_a_copy_is_recognised_by_its_own_id_or_as_the_original_of_a_new_dead_letter() -> None:
    batch = [
        QueueMessage("sent-1", "r", "moved but still here", 2),
        QueueMessage(
            "new", "r", "dead-lettered again", 1, {"s3meta-original-message-id": "sent-2"}
        ),
        QueueMessage("other", "r", "never moved", 1, {"s3meta-original-message-id": "x"}),
    ]

    assert returned_copies(batch, {"sent-1", "sent-2"}) == {"sent-1", "new"}


def test_a_dead_letter_reads_what_the_bridge_recorded_on_it() -> None:
    dlq = dead_letter_queue("body")

    (letter,) = [DeadLetter(message) for message in dlq.visible]

    assert letter.reason == "unusable body number 0"
    assert letter.source_queue == "events"
    assert letter.original_id == "original-0"
    assert letter.receive_count == "3"


def test_a_plain_message_has_nothing_recorded() -> None:
    letter = DeadLetter(QueueMessage("id", "r", "body", 1))

    assert (letter.reason, letter.source_queue, letter.original_id, letter.receive_count) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(("limit", "would_move"), [(None, 12), (5, 5), (50, 12)])
def test_a_preview_counts_at_most_the_limit_and_moves_nothing(
    limit: int | None, would_move: int
) -> None:
    dlq, events = dead_letter_queue(*(f"body {n}" for n in range(12))), MemoryQueue("events")

    preview = preview_move(dlq, events, limit=limit)

    assert preview.would_move == would_move
    assert preview.depth.visible == 12
    assert [letter.message.body for letter in preview.sample] == [f"body {n}" for n in range(10)]
    assert len(dlq.visible) == 12
    assert events.visible == []


def test_a_preview_fails_on_a_missing_events_queue() -> None:
    with pytest.raises(S3MetaError, match="no such queue"):
        preview_move(dead_letter_queue("a"), MemoryQueue("events", missing=True), limit=None)
