"""``s3meta.domain.acks``: which acknowledged messages are deleted when."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3meta.domain.acks import BATCH_SIZE, Batch, PendingAcks


def handles(count: int, prefix: str = "h") -> list[str]:
    return [f"{prefix}{n}" for n in range(count)]


def test_an_ack_waits_for_the_delay_then_goes_out_alone() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=1.0)
    pending.add("tasks", "h0", now=100.0)

    assert pending.due(now=100.9) == []
    assert pending.next_due() == 101.0
    assert pending.due(now=101.0) == [Batch("tasks", ("h0",))]
    assert len(pending) == 0
    assert pending.next_due() is None


def test_ten_acks_of_one_queue_go_out_at_once_as_one_batch() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=1.0)
    for handle in handles(BATCH_SIZE):
        pending.add("tasks", handle, now=100.0)

    assert pending.next_due() == 100.0
    assert pending.due(now=100.0) == [Batch("tasks", tuple(handles(BATCH_SIZE)))]


def test_the_acks_past_a_full_batch_wait_for_their_own_delay() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=1.0)
    for n, handle in enumerate(handles(13)):
        pending.add("tasks", handle, now=100.0 + n / 10)

    assert pending.due(now=101.05) == [Batch("tasks", tuple(handles(10)))]
    assert pending.next_due() == pytest.approx(102.0)
    assert pending.due(now=101.5) == []
    assert pending.due(now=102.0) == [Batch("tasks", ("h10", "h11", "h12"))]


def test_each_queue_is_batched_apart_and_waits_on_its_own_oldest_ack() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=1.0)
    pending.add("a", "a0", now=100.0)
    pending.add("b", "b0", now=100.5)
    pending.add("a", "a1", now=100.8)

    assert pending.due(now=101.0) == [Batch("a", ("a0", "a1"))]
    assert pending.due(now=101.5) == [Batch("b", ("b0",))]


def test_a_delay_of_zero_sends_every_ack_at_once_on_its_own() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=0)
    pending.add("tasks", "h0", now=100.0)
    pending.add("tasks", "h1", now=100.0)

    assert pending.due(now=100.0) == [Batch("tasks", ("h0",)), Batch("tasks", ("h1",))]


def test_draining_takes_everything_pending_in_batches_of_ten() -> None:
    pending: PendingAcks[str] = PendingAcks(delay=60.0)
    for handle in handles(23):
        pending.add("a", handle, now=100.0)
    pending.add("b", "b0", now=100.0)

    batches = pending.drain()

    assert [(batch.queue, len(batch.handles)) for batch in batches] == [
        ("a", 10),
        ("a", 10),
        ("a", 3),
        ("b", 1),
    ]
    assert len(pending) == 0
    assert pending.drain() == []


@pytest.mark.parametrize(("delay", "size"), [(-0.5, 10), (1.0, 0), (1.0, 11)])
def test_a_negative_delay_or_a_batch_sqs_refuses_is_an_error(delay: float, size: int) -> None:
    with pytest.raises(ValueError, match=r"delay|batch"):
        PendingAcks(delay=delay, size=size)


@given(
    acks=st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 5, allow_nan=False)), max_size=60),
    delay=st.floats(0, 3, allow_nan=False),
)
def test_every_ack_goes_out_exactly_once_in_order_and_never_later_than_its_delay(
    acks: list[tuple[str, float]], delay: float
) -> None:
    pending: PendingAcks[str] = PendingAcks(delay=delay)
    sent: list[Batch[str]] = []
    now = 0.0
    acked_at: dict[str, float] = {}
    for n, (queue, step) in enumerate(acks):
        now += step
        sent += pending.due(now)
        handle = f"{queue}{n}"
        pending.add(queue, handle, now)
        acked_at[handle] = now
        due = pending.next_due()
        assert due is not None
        assert due <= now + delay
        sent += pending.due(now)
    sent += pending.drain()

    flat = [handle for batch in sent for handle in batch.handles]
    assert sorted(flat) == sorted(acked_at)
    assert all(1 <= len(batch.handles) <= BATCH_SIZE for batch in sent)
    assert all(handle.startswith(batch.queue) for batch in sent for handle in batch.handles)
    for queue in "abc":
        of_queue = [h for h in flat if h.startswith(queue)]
        assert of_queue == sorted(of_queue, key=lambda h: int(h[1:]))
