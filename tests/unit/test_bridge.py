"""``s3meta.bridge.Bridge`` on queues in memory: what it publishes, deletes and dead-letters.

The delivery rule: a message is deleted only after every task it yields was published, or
after it was dead-lettered with its reason; anything short of that leaves it for SQS to
deliver again. The tasks of a whole batch are published together, and refused one by one.
"""

from __future__ import annotations

import json

from s3meta.aws.sqs import REASON_ATTRIBUTE, SOURCE_QUEUE_ATTRIBUTE, Attribute, DeadLetters
from s3meta.bridge import Bridge, BridgeOptions, BridgeStats
from s3meta.errors import InvalidTaskArguments
from s3meta.memory import MemoryPublisher, MemoryQueue


def record(bucket: str, key: str) -> dict[str, object]:
    return {
        "eventVersion": "2.1",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-20T10:15:30.123Z",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
    }


def notification(bucket: str, key: str, *more: tuple[str, str]) -> str:
    """S3's notification of ``bucket``/``key`` (and of ``more`` objects, in one message)."""
    objects = [(bucket, key), *more]
    return json.dumps({"Records": [record(name, each) for name, each in objects]})


def bridge_on(
    events: MemoryQueue, dlq: MemoryQueue, publisher: MemoryPublisher | None = None
) -> Bridge:
    return Bridge(
        events,  # type: ignore[arg-type]
        DeadLetters(dlq),  # type: ignore[arg-type]
        publisher or MemoryPublisher(),
        BridgeOptions(wait_seconds=0, visibility_timeout=30, drain=True),
    )


def drain(*bodies: str) -> tuple[MemoryPublisher, MemoryQueue, MemoryQueue]:
    events, dlq = MemoryQueue("events"), MemoryQueue("events-dlq")
    for body in bodies:
        events.send(body)
    publisher = MemoryPublisher()
    bridge_on(events, dlq, publisher).run()
    return publisher, events, dlq


def one_batch(bridge: Bridge, events: MemoryQueue) -> BridgeStats:
    return bridge.handle_batch(events.receive(wait_seconds=0, visibility_timeout=30))


def test_an_event_for_a_bucket_name_s3_never_allows_is_dead_lettered_with_the_reason() -> None:
    publisher, events, dlq = drain(notification("Bad_Bucket!!", "k"), notification("good-1", "k"))

    assert [(event.bucket, event.key) for event in publisher.events] == [("good-1", "k")]
    assert events.visible == []
    assert events.in_flight == {}
    (letter,) = dlq.visible
    assert letter.body == notification("Bad_Bucket!!", "k")
    assert str(letter.text(REASON_ATTRIBUTE)).startswith(
        "1 of 1 record unusable: record 1: s3.bucket.name: invalid bucket name 'Bad_Bucket!!'"
    )


def test_events_whose_decoded_key_is_empty_or_too_long_are_dead_lettered() -> None:
    too_long = "%C3%A9" * 512 + "k"  # 1025 bytes once decoded

    publisher, _, dlq = drain(notification("bucket-a", ""), notification("bucket-a", too_long))

    assert publisher.events == []
    reasons = [letter.text(REASON_ATTRIBUTE) for letter in dlq.visible]
    assert reasons == [
        "1 of 1 record unusable: record 1: s3.object.key is empty",
        "1 of 1 record unusable: record 1: s3.object.key is 1025 bytes of UTF-8; "
        "S3 allows at most 1024",
    ]


def test_a_dead_lettered_message_keeps_its_own_attributes() -> None:
    events, dlq = MemoryQueue("events"), MemoryQueue("events-dlq")
    attributes = {
        "trace-id": Attribute("abc-123"),
        "hops": Attribute("3", "Number"),
        "signature": Attribute(b"\x00\xfe", "Binary"),
    }
    events.send(notification("Bad_Bucket!!", "k"), attributes)
    bridge = bridge_on(events, dlq)

    bridge.run()

    (letter,) = dlq.visible
    assert {name: letter.attributes[name] for name in attributes} == attributes
    assert letter.text(SOURCE_QUEUE_ATTRIBUTE) == "events"
    assert str(letter.text(REASON_ATTRIBUTE)).startswith("1 of 1 record unusable")


def test_a_message_is_deleted_once_every_task_it_yields_is_published() -> None:
    body = notification("bucket-a", "one", ("bucket-a", "two"), ("bucket-b", "three"))

    publisher, events, dlq = drain(body)

    assert [(e.bucket, e.key) for e in publisher.events] == [
        ("bucket-a", "one"),
        ("bucket-a", "two"),
        ("bucket-b", "three"),
    ]
    assert [message.body for message in events.deleted] == [body]
    assert (events.visible, events.in_flight, dlq.visible) == ([], {}, [])


def test_a_message_whose_last_task_cannot_be_published_stays_for_redelivery() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    events.send(notification("bucket-a", "one", ("bucket-a", "two")))
    publisher.refuse("bucket-a", "two")
    bridge = bridge_on(events, dlq, publisher)

    stats = one_batch(bridge, events)

    assert (stats.published, stats.deleted, stats.kept_for_redelivery) == (1, 0, 1)
    assert events.deleted == []
    assert len(events.in_flight) == 1  # SQS delivers it again when its visibility times out
    assert dlq.visible == []


def test_a_message_kept_for_redelivery_is_deleted_once_the_broker_takes_its_tasks() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    events.send(notification("bucket-a", "one", ("bucket-a", "two")))
    publisher.refuse("bucket-a", "two")
    bridge = bridge_on(events, dlq, publisher)
    one_batch(bridge, events)
    publisher.refused.clear()
    events.release(list(events.in_flight.values()))

    stats = one_batch(bridge, events)

    assert (stats.published, stats.deleted, stats.kept_for_redelivery) == (2, 1, 0)
    # The first task went twice: harmless, the task is idempotent; a loss would not be.
    assert [e.key for e in publisher.events] == ["one", "one", "two"]
    assert (events.visible, events.in_flight) == ([], {})


def test_a_publish_failure_keeps_only_its_own_message_of_the_batch() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    for key in ("a", "b", "c"):
        events.send(notification("bucket-a", key))
    publisher.refuse("bucket-a", "b")

    stats = one_batch(bridge_on(events, dlq, publisher), events)

    assert (stats.received, stats.deleted, stats.kept_for_redelivery) == (3, 2, 1)
    assert [message.body for message in events.in_flight.values()] == [
        notification("bucket-a", "b")
    ]


def test_the_usable_records_of_a_partly_bad_message_are_published_then_it_is_dead_lettered() -> (
    None
):
    body = notification("bucket-a", "good", ("Bad_Bucket!!", "k"))

    publisher, events, dlq = drain(body)

    assert [(e.bucket, e.key) for e in publisher.events] == [("bucket-a", "good")]
    (letter,) = dlq.visible
    assert letter.body == body
    assert str(letter.text(REASON_ATTRIBUTE)).startswith("1 of 2 records unusable: record 2:")
    assert [message.body for message in events.deleted] == [body]


def test_a_bad_message_that_cannot_be_dead_lettered_stays_for_redelivery() -> None:
    events, dlq = MemoryQueue("events"), MemoryQueue("events-dlq", missing=True)
    events.send("not json")

    stats = one_batch(bridge_on(events, dlq), events)

    assert (stats.dead_lettered, stats.deleted, stats.kept_for_redelivery) == (0, 0, 1)
    assert len(events.in_flight) == 1


def test_s3s_test_event_is_deleted_without_a_task() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bucket-a"})

    publisher, events, dlq = drain(body)

    assert publisher.events == []
    assert [message.body for message in events.deleted] == [body]
    assert dlq.visible == []


def test_the_tasks_of_every_message_of_a_batch_are_published_in_one_call() -> None:
    bodies = [
        notification("bucket-a", "a"),
        notification("bucket-a", "b1", ("bucket-a", "b2"), ("bucket-b", "b3")),
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "bucket-a"}),
        notification("bucket-a", "c1", ("bucket-a", "c2")),
    ]

    publisher, events, _ = drain(*bodies)

    assert publisher.calls == [6]
    assert [e.key for e in publisher.events] == ["a", "b1", "b2", "b3", "c1", "c2"]
    assert [message.body for message in events.deleted] == bodies


def test_tasks_refused_one_by_one_keep_only_the_messages_they_came_from() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    first = notification("bucket-a", "a1", ("bucket-a", "a2"))
    second = notification("bucket-a", "b1")
    third = notification("bucket-a", "c1", ("bucket-a", "c2"))
    for body in (first, second, third):
        events.send(body)
    publisher.refuse("bucket-a", "a2")  # as SQS refuses single entries of a SendMessageBatch
    publisher.refuse("bucket-a", "c1")

    stats = one_batch(bridge_on(events, dlq, publisher), events)

    assert publisher.calls == [5]
    assert (stats.published, stats.deleted, stats.kept_for_redelivery) == (3, 1, 2)
    assert [message.body for message in events.deleted] == [second]
    assert sorted(message.body for message in events.in_flight.values()) == sorted([first, third])
    # The accepted tasks of kept messages run again when they return: harmless.
    assert [e.key for e in publisher.events] == ["a1", "b1", "c2"]
    assert dlq.visible == []


def test_a_message_with_a_refused_task_stays_even_if_another_of_its_tasks_is_unusable() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    events.send(notification("bucket-a", "one", ("bucket-a", "two")))
    publisher.refuse("bucket-a", "one", InvalidTaskArguments("extract_metadata: key is odd"))
    publisher.refuse("bucket-a", "two")

    stats = one_batch(bridge_on(events, dlq, publisher), events)

    assert (stats.dead_lettered, stats.deleted, stats.kept_for_redelivery) == (0, 0, 1)
    assert dlq.visible == []


def test_an_event_no_task_could_use_dead_letters_its_message_once_the_rest_are_published() -> None:
    events, dlq, publisher = MemoryQueue("events"), MemoryQueue("events-dlq"), MemoryPublisher()
    body = notification("bucket-a", "good", ("bucket-a", "odd"))
    events.send(body)
    publisher.refuse("bucket-a", "odd", InvalidTaskArguments("extract_metadata: key is odd"))

    stats = one_batch(bridge_on(events, dlq, publisher), events)

    assert (stats.published, stats.dead_lettered, stats.deleted) == (1, 1, 1)
    assert [e.key for e in publisher.events] == ["good"]
    (letter,) = dlq.visible
    assert letter.body == body
    assert letter.text(REASON_ATTRIBUTE) == "extract_metadata: key is odd"
