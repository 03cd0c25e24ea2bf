"""``bridge --drain`` on a queue whose last messages are in flight: it says so, and gives up."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

import pytest

from s3meta.aws.sqs import DeadLetters, Queue
from s3meta.bridge import Bridge, BridgeOptions, Published
from s3meta.domain.events import ObjectEvent
from s3meta.memory import MemoryQueue


class NoPublisher:
    def publish_all(self, events: Sequence[ObjectEvent]) -> list[Published]:
        raise AssertionError(f"nothing is visible to publish, got {events}")


def draining_bridge(events: MemoryQueue, timeout: float) -> Bridge:
    queue: Any = events
    return Bridge(
        cast(Queue, queue),
        DeadLetters(cast(Queue, MemoryQueue("dlq"))),
        NoPublisher(),
        BridgeOptions(wait_seconds=0, visibility_timeout=30, drain=True, drain_timeout=timeout),
    )


def test_a_drain_of_an_empty_queue_ends_at_once_with_nothing_unfinished() -> None:
    bridge = draining_bridge(MemoryQueue("events"), timeout=60)

    bridge.run()

    assert bridge.unfinished is None


def test_a_drain_waiting_on_messages_in_flight_says_so_and_gives_up_after_its_bound(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events = MemoryQueue("events")
    events.send('{"Records": []}')
    events.receive(wait_seconds=0, visibility_timeout=600)  # another consumer holds it
    bridge = draining_bridge(events, timeout=0.2)

    with caplog.at_level(logging.INFO, logger="s3meta.bridge"):
        bridge.run()

    assert bridge.unfinished is not None
    assert bridge.unfinished.in_flight == 1
    messages = [record.getMessage() for record in caplog.records]
    waiting = [m for m in messages if "no message visible, but 1 in flight" in m]
    assert len(waiting) == 1
    assert "waiting up to 0 s" in waiting[0]
    assert any("gave up after" in m and "1 messages in flight" in m for m in messages)
    assert events.in_flight  # nothing was taken from the other consumer
