"""``s3meta.bridge.Bridge`` on queues in memory: what it publishes and what it dead-letters."""

from __future__ import annotations

import json

from s3meta.aws.sqs import REASON_ATTRIBUTE, DeadLetters
from s3meta.bridge import Bridge, BridgeOptions
from s3meta.domain.events import ObjectEvent
from s3meta.memory import MemoryQueue


class RecordingPublisher:
    """Accepts every task, keeping the events it was given."""

    def __init__(self) -> None:
        self.events: list[ObjectEvent] = []

    def publish(self, event: ObjectEvent) -> str:
        self.events.append(event)
        return f"task-{len(self.events)}"


def notification(bucket: str, key: str) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-20T10:15:30.123Z",
                    "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
                }
            ]
        }
    )


def drain(*bodies: str) -> tuple[RecordingPublisher, MemoryQueue, MemoryQueue]:
    events, dlq = MemoryQueue("events"), MemoryQueue("events-dlq")
    for body in bodies:
        events.send(body)
    publisher = RecordingPublisher()
    bridge = Bridge(
        events,  # type: ignore[arg-type]
        DeadLetters(dlq),  # type: ignore[arg-type]
        publisher,
        BridgeOptions(wait_seconds=0, visibility_timeout=30, drain=True),
    )
    bridge.run()
    return publisher, events, dlq


def test_an_event_for_a_bucket_name_s3_never_allows_is_dead_lettered_with_the_reason() -> None:
    publisher, events, dlq = drain(notification("Bad_Bucket!!", "k"), notification("good-1", "k"))

    assert [(event.bucket, event.key) for event in publisher.events] == [("good-1", "k")]
    assert events.visible == []
    assert events.in_flight == {}
    (letter,) = dlq.visible
    assert letter.body == notification("Bad_Bucket!!", "k")
    assert letter.attributes[REASON_ATTRIBUTE].startswith(
        "1 of 1 record unusable: record 1: s3.bucket.name: invalid bucket name 'Bad_Bucket!!'"
    )


def test_events_whose_decoded_key_is_empty_or_too_long_are_dead_lettered() -> None:
    too_long = "%C3%A9" * 512 + "k"  # 1025 bytes once decoded

    publisher, _, dlq = drain(notification("bucket-a", ""), notification("bucket-a", too_long))

    assert publisher.events == []
    reasons = [letter.attributes[REASON_ATTRIBUTE] for letter in dlq.visible]
    assert reasons == [
        "1 of 1 record unusable: record 1: s3.object.key is empty",
        "1 of 1 record unusable: record 1: s3.object.key is 1025 bytes of UTF-8; "
        "S3 allows at most 1024",
    ]
