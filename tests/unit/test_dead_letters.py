"""``s3meta.operations.dead_letters``: moving dead letters back, on queues in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from s3meta.aws.sqs import (
    ATTRIBUTE_LIMIT,
    ORIGINAL_ID_ATTRIBUTE,
    PACKED_ATTRIBUTE,
    REASON_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
    SOURCE_QUEUE_ATTRIBUTE,
    Attribute,
    DeadLetters,
    QueueMessage,
)
from s3meta.errors import PermanentError, QueueNotFound, QueueUnavailable, S3MetaError
from s3meta.memory import MemoryQueue
from s3meta.operations import dead_letters
from s3meta.operations.dead_letters import (
    DeadLetter,
    ScanReport,
    find_dead_letter,
    list_dead_letters,
    move_dead_letters,
    preview_move,
    purge_dead_letters,
    returned_copies,
)

OWN_ATTRIBUTES = {
    REASON_ATTRIBUTE,
    SOURCE_QUEUE_ATTRIBUTE,
    ORIGINAL_ID_ATTRIBUTE,
    RECEIVE_COUNT_ATTRIBUTE,
}


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

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
        if len(self.visible) >= self.accepted:
            raise QueueUnavailable("SQS send to 'events': throttled")
        return super().send(body, attributes)


class RejectingBridge(MemoryQueue):
    """An events queue whose bridge dead-letters every message again at once."""

    def __init__(self, dlq: MemoryQueue) -> None:
        super().__init__("events")
        self.dlq = dlq

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
        message_id = super().send(body, attributes)
        copy = QueueMessage(message_id, message_id, body, receive_count=1)
        dead_letter(self.dlq, copy, "still unusable", self.name)
        return message_id


def test_every_dead_letter_moves_with_its_body_and_without_the_dead_letterings_attributes() -> None:
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
            "new",
            "r",
            "dead-lettered again",
            1,
            {"s3meta-original-message-id": Attribute("sent-2")},
        ),
        QueueMessage(
            "other", "r", "never moved", 1, {"s3meta-original-message-id": Attribute("x")}
        ),
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


# Attributes of the original message, kept through dead-lettering and moving back.

ORIGINAL_ATTRIBUTES = {
    "trace-id": Attribute("abc-123"),
    "attempt": Attribute("2", "Number"),
    "signature": Attribute(b"\x00\x01\xfe", "Binary"),
}


def many_attributes(count: int) -> dict[str, Attribute]:
    return {
        f"attribute-{n}": Attribute(str(n), "Number") if n % 2 else Attribute(bytes([n]), "Binary")
        for n in range(count)
    }


def test_a_dead_letter_keeps_the_original_attributes_beside_what_s3meta_records() -> None:
    dlq = MemoryQueue("dlq")
    original = QueueMessage("original-0", "r", "body", 2, ORIGINAL_ATTRIBUTES)

    dead_letter(dlq, original, "unusable", "events")

    (message,) = dlq.visible
    assert set(message.attributes) == {*ORIGINAL_ATTRIBUTES, *OWN_ATTRIBUTES}
    assert DeadLetter(message).original_attributes == ORIGINAL_ATTRIBUTES
    assert DeadLetter(message).reason == "unusable"


@pytest.mark.parametrize("count", [6, 7, 10])
def test_past_sqs_limit_of_ten_the_original_attributes_are_packed_into_one_and_none_lost(
    count: int,
) -> None:
    dlq = MemoryQueue("dlq")  # refuses more than ten attributes, as SQS does
    attributes = many_attributes(count)

    dead_letter(dlq, QueueMessage("original-0", "r", "body", 1, attributes), "bad", "events")

    (message,) = dlq.visible
    assert len(message.attributes) <= ATTRIBUTE_LIMIT
    assert (PACKED_ATTRIBUTE in message.attributes) == (count > 6)
    assert DeadLetter(message).original_attributes == attributes
    assert DeadLetter(message).reason == "bad"


def test_what_an_earlier_dead_lettering_recorded_is_replaced_not_kept() -> None:
    dlq = MemoryQueue("dlq")
    first = QueueMessage("original-0", "r", "body", 1, many_attributes(8))
    dead_letter(dlq, first, "first reason", "events")
    (earlier,) = dlq.visible
    # As the AWS console's "start DLQ redrive" would: back to the source, attributes and all.
    again = QueueMessage("copy-1", "r", "body", 5, earlier.attributes)
    dead_letter(dlq, again, "second reason", "events")

    (_, message) = dlq.visible
    letter = DeadLetter(message)
    assert (letter.reason, letter.original_id, letter.receive_count) == (
        "second reason",
        "copy-1",
        "5",
    )
    assert letter.original_attributes == many_attributes(8)


@pytest.mark.parametrize("count", [3, 10])
def test_moving_a_dead_letter_back_restores_the_original_attributes_only(count: int) -> None:
    dlq, events = MemoryQueue("dlq"), MemoryQueue("events")
    attributes = many_attributes(count)
    dead_letter(dlq, QueueMessage("original-0", "r", "body", 1, attributes), "bad", "events")

    report = move_dead_letters(dlq, events, limit=None)

    assert report.moved == 1
    (moved,) = events.visible
    assert moved.body == "body"
    assert dict(moved.attributes) == attributes


def test_a_packed_attribute_s3meta_did_not_write_stops_the_move_and_loses_nothing() -> None:
    dlq, events = MemoryQueue("dlq"), MemoryQueue("events")
    dlq.send("body", {PACKED_ATTRIBUTE: Attribute("{not json")})

    with pytest.raises(PermanentError, match="dlq-0: its s3meta-original-attributes attribute"):
        move_dead_letters(dlq, events, limit=None)

    assert dlq.bodies() == ["body"]
    assert dlq.in_flight == {}
    assert events.visible == []


# Scans: list, find and purge.


class ReturningQueue(MemoryQueue):
    """A queue on which what is received reappears at once, as after a hold that ended."""

    def receive(
        self, *, wait_seconds: int, visibility_timeout: int, max_messages: int = 10
    ) -> list[QueueMessage]:
        return super().receive(wait_seconds=wait_seconds, visibility_timeout=0)

    def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
        return []

    def release(self, messages: Sequence[QueueMessage]) -> None:
        pass


def mixed_queue() -> MemoryQueue:
    """25 dead letters: every third of a bad bucket, the rest of a bad key; then a plain one."""
    dlq = MemoryQueue("dlq")
    for n in range(25):
        reason = "Invalid bucket name 'Bad_Bucket!!'" if n % 3 == 0 else "key is empty"
        dead_letter(dlq, QueueMessage(f"original-{n}", "r", f"body {n}", 1), reason, "events")
    dlq.send("moved here by SQS itself")
    return dlq


def listed(dlq: MemoryQueue, **options: Any) -> tuple[list[str], ScanReport]:
    bodies: list[str] = []
    report = list_dead_letters(
        dlq, lambda letter: bodies.append(letter.message.body), wait_seconds=0, **options
    )
    return bodies, report


def test_a_listing_passes_each_message_once_and_leaves_every_one_visible() -> None:
    dlq = mixed_queue()

    bodies, report = listed(dlq)

    assert sorted(bodies) == sorted(message.body for message in dlq.visible)
    assert len(bodies) == 26
    assert (report.looked_at, report.matched, report.stopped) == (26, 26, "empty")
    assert dlq.in_flight == {}
    assert dlq.deleted == []


def test_a_listing_by_reason_matches_part_of_it_in_any_case() -> None:
    dlq = mixed_queue()

    bodies, report = listed(dlq, reason="BAD_bucket")

    assert bodies == [f"body {n}" for n in range(0, 25, 3)]
    assert (report.looked_at, report.matched) == (26, 9)
    assert len(dlq.visible) == 26


def test_a_listing_stops_at_its_limit_and_releases_what_it_held() -> None:
    dlq = mixed_queue()

    bodies, report = listed(dlq, reason="key is empty", limit=4)

    assert bodies == ["body 1", "body 2", "body 4", "body 5"]
    assert (report.matched, report.stopped) == (4, "limit")
    assert (len(dlq.visible), dlq.in_flight) == (26, {})


def test_a_scan_ends_when_a_receive_brings_only_messages_seen_already() -> None:
    dlq = ReturningQueue("dlq")
    for n in range(15):
        dlq.send(f"body {n}")

    bodies, report = listed(dlq)

    assert bodies == [f"body {n}" for n in range(10)]
    assert (report.stopped, dlq.received) == ("seen-all", 2)


def test_a_scan_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dead_letters, "DEAD_LETTER_CAP", 12)

    bodies, report = listed(mixed_queue())

    assert (len(bodies), report.stopped) == (20, "cap")


def test_a_listing_of_a_missing_queue_fails_before_anything_is_received() -> None:
    dlq = MemoryQueue("dlq", missing=True)

    with pytest.raises(QueueNotFound):
        listed(dlq)

    assert dlq.received == 0


def test_a_failure_while_listing_still_releases_what_was_held() -> None:
    dlq = mixed_queue()

    def refuse(letter: DeadLetter) -> None:
        raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        list_dead_letters(dlq, refuse, wait_seconds=0)

    assert (len(dlq.visible), dlq.in_flight) == (26, {})


def test_a_message_is_found_by_its_id_and_left_in_the_queue() -> None:
    dlq = mixed_queue()

    letter, report = find_dead_letter(dlq, "dlq-13", wait_seconds=0)

    assert letter is not None
    assert (letter.message.body, letter.reason) == ("body 13", "key is empty")
    assert report.stopped == "found"
    assert (len(dlq.visible), dlq.in_flight) == (26, {})


def test_an_unknown_id_is_not_found_after_looking_at_every_message() -> None:
    dlq = mixed_queue()

    letter, report = find_dead_letter(dlq, "no-such-id", wait_seconds=0)

    assert letter is None
    assert (report.looked_at, report.stopped) == (26, "empty")
    assert dlq.in_flight == {}


def test_a_purge_by_reason_deletes_only_the_matching_messages() -> None:
    dlq = mixed_queue()
    seen: list[str] = []

    report = purge_dead_letters(
        dlq, reason="bad_bucket", on_letter=lambda letter: seen.append(letter.message.body),
        wait_seconds=0,
    )  # fmt: skip

    purged = [f"body {n}" for n in range(0, 25, 3)]
    assert sorted(message.body for message in dlq.deleted) == sorted(purged) == sorted(seen)
    assert (report.looked_at, report.matched, report.deleted, report.not_deleted) == (26, 9, 9, 0)
    assert dlq.in_flight == {}
    assert len(dlq.visible) == 17
    assert not any(DeadLetter(message).matches("bad_bucket") for message in dlq.visible)


def test_a_purge_without_a_reason_deletes_every_message() -> None:
    dlq = mixed_queue()

    report = purge_dead_letters(dlq, wait_seconds=0)

    assert (report.deleted, dlq.depth().total) == (26, 0)


def test_a_dry_run_purge_counts_the_matching_messages_and_deletes_nothing() -> None:
    dlq = mixed_queue()

    report = purge_dead_letters(dlq, reason="key is empty", dry_run=True, wait_seconds=0)

    assert (report.matched, report.deleted) == (16, 0)
    assert (len(dlq.visible), dlq.in_flight, dlq.deleted) == (26, {}, [])


def test_matching_messages_sqs_did_not_delete_are_counted() -> None:
    class Undeletable(MemoryQueue):
        def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
            return [message.message_id for message in messages]

    dlq = Undeletable("dlq")
    for body in ("a", "b"):
        dlq.send(body)

    report = purge_dead_letters(dlq, wait_seconds=0)

    assert (report.matched, report.deleted, report.not_deleted) == (2, 0, 2)


def test_a_message_without_a_recorded_reason_matches_no_reason() -> None:
    letter = DeadLetter(QueueMessage("id", "r", "body", 1))

    assert letter.matches(None)
    assert not letter.matches("anything")
