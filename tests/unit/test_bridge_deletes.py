"""The bridge's deletes, batched across loops, on queues in memory with a hand-moved clock.

A message is deleted only after every task it yields was accepted (or it was dead-lettered);
settled messages then wait for nine more, at most ``delete_delay`` seconds, and are all
deleted when the bridge stops, drains or finds the queue idle.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from s3meta.aws.sqs import DeadLetters
from s3meta.bridge import Bridge, BridgeOptions
from s3meta.cli.bridge import bridge as bridge_command
from s3meta.errors import ConfigError
from s3meta.memory import ManualClock, MemoryPublisher, MemoryQueue


def notification(key: str) -> str:
    record = {
        "eventVersion": "2.1",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "bucket-a"}, "object": {"key": key, "size": 1}},
    }
    return json.dumps({"Records": [record]})


def arriving(clock: ManualClock, times: list[float]) -> MemoryQueue:
    """An events queue on which the notification of key ``kN`` arrives at ``times[N]``."""
    events = MemoryQueue("events", clock=clock)
    for n, at in enumerate(times):
        events.send_later(notification(f"k{n}"), at)
    return events


def bridge_on(
    events: MemoryQueue,
    clock: ManualClock,
    publisher: MemoryPublisher | None = None,
    **options: object,
) -> Bridge:
    settings: dict[str, object] = {"wait_seconds": 1, "visibility_timeout": 300, "drain": True}
    return Bridge(
        events,  # type: ignore[arg-type]
        DeadLetters(MemoryQueue("events-dlq")),  # type: ignore[arg-type]
        publisher or MemoryPublisher(),
        BridgeOptions(**{**settings, **options}),  # type: ignore[arg-type]
        clock=clock,
    )


def test_at_one_message_a_second_deletes_go_ten_to_a_request_across_loops() -> None:
    clock = ManualClock()
    events = arriving(clock, [float(n) for n in range(25)])
    publisher = MemoryPublisher()

    stats = bridge_on(events, clock, publisher, delete_delay=30.0).run()

    assert publisher.calls == [1] * 25  # each receive brought one message
    assert events.delete_requests == [10, 10, 5]  # the last five when the queue fell idle
    assert stats.deleted == 25
    assert (events.visible, events.in_flight) == ([], {})


def test_a_settled_message_waits_at_most_the_delete_delay_even_while_long_polling() -> None:
    clock = ManualClock()
    events = arriving(clock, [0.0, 1.0, 2.0, 100.0])
    bridge = bridge_on(events, clock, wait_seconds=20, drain=False, delete_delay=3.0)

    for _ in range(4):
        bridge.poll_once()

    # Each long poll ends by the oldest pending message's deadline (0 s + 3 s).
    assert events.waits == [20, 3, 2, 1]
    assert clock.now() == 3.0
    assert events.delete_requests == [3]
    assert [message.body for message in events.deleted] == [
        notification("k0"), notification("k1"), notification("k2")
    ]  # fmt: skip


def test_a_stopped_bridge_deletes_what_it_settled_before_it_returns() -> None:
    clock = ManualClock()
    events = arriving(clock, [0.0, 0.5])
    bridge = bridge_on(events, clock, drain=False, delete_delay=60.0)
    bridge.poll_once()
    bridge.poll_once()
    assert (len(events.in_flight), events.delete_requests) == (2, [])

    bridge.stop()
    stats = bridge.run()

    assert events.delete_requests == [2]
    assert stats.deleted == 2
    assert events.in_flight == {}


def test_a_message_with_a_refused_task_is_never_deleted_by_a_later_flush() -> None:
    clock = ManualClock()
    events = arriving(clock, [0.0, 1.0, 2.0])
    publisher = MemoryPublisher()
    publisher.refuse("bucket-a", "k1")

    stats = bridge_on(events, clock, publisher, delete_delay=30.0).run()

    assert [message.body for message in events.deleted] == [notification("k0"), notification("k2")]
    assert [message.body for message in events.in_flight.values()] == [notification("k1")]
    assert (stats.deleted, stats.kept_for_redelivery) == (2, 1)


def test_a_killed_bridges_settled_messages_come_back_and_are_published_again() -> None:
    clock = ManualClock()
    events = arriving(clock, [0.0, 0.5, 1.0])
    publisher = MemoryPublisher()
    killed = bridge_on(events, clock, publisher, drain=False, delete_delay=60.0)
    for _ in range(3):
        killed.poll_once()  # then the process dies: no flush
    assert events.deleted == []
    events.release(list(events.in_flight.values()))  # their visibility timeout ends

    bridge_on(events, clock, publisher, delete_delay=60.0).run()

    # Every task was accepted before the kill, and again after: twice, harmlessly.
    assert sorted(event.key for event in publisher.events) == ["k0", "k0", "k1", "k1", "k2", "k2"]
    assert events.delete_requests == [3]
    assert (events.visible, events.in_flight) == ([], {})


def test_a_batch_window_fills_each_publish_at_twenty_messages_a_second() -> None:
    times = [n / 20 for n in range(30)]
    without, within = ManualClock(), ManualClock()
    eager, patient = MemoryPublisher(), MemoryPublisher()

    bridge_on(arriving(without, times), without, eager).run()
    bridge_on(arriving(within, times), within, patient, batch_window=0.5).run()

    assert eager.calls == [1] * 30
    assert patient.calls == [10, 10, 10]  # one receive, half a second, one top-up
    assert sorted(event.key for event in patient.events) == sorted(f"k{n}" for n in range(30))


def test_a_delete_delay_past_half_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^bridge: the delete delay plus the batch window"):
        BridgeOptions(visibility_timeout=30, delete_delay=10.0, batch_window=6.0)
    # The default delay fits even a short visibility timeout.
    assert BridgeOptions(visibility_timeout=3).delete_delay_seconds == 0.75


def test_the_bridge_command_refuses_such_settings_in_one_line_before_it_starts() -> None:
    result = CliRunner().invoke(
        bridge_command, ["--visibility-timeout", "10", "--delete-delay", "6"]
    )

    assert result.exit_code == 1
    assert result.output == (
        "Error: bridge: the delete delay plus the batch window (6 s) must be at most half "
        "the visibility timeout (10 s), or messages come back before they are deleted\n"
    )
