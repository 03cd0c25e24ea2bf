"""``s3meta.domain.polling``: when settled event messages are deleted, and how long to poll."""

from __future__ import annotations

import pytest

from s3meta.domain.polling import (
    DEFAULT_DELETE_DELAY,
    PendingDeletes,
    default_delete_delay,
    fill_wait,
    timing_problem,
)


def test_nothing_is_due_until_ten_wait_or_the_oldest_has_waited_its_delay() -> None:
    pending: PendingDeletes[str] = PendingDeletes(max_delay=3.0)
    pending.add(["a", "b"], now=10.0)
    pending.add(["c"], now=11.0)

    assert pending.take_due(now=12.9) == []
    assert pending.take_due(now=13.0) == ["a", "b", "c"]
    assert len(pending) == 0


def test_whole_requests_go_at_once_and_the_rest_keep_their_own_deadline() -> None:
    pending: PendingDeletes[int] = PendingDeletes(max_delay=3.0)
    pending.add(range(7), now=0.0)
    pending.add(range(7, 15), now=1.0)

    assert pending.take_due(now=1.0) == list(range(10))  # the oldest ten: one full request
    assert len(pending) == 5
    assert pending.deadline() == 4.0  # the oldest left was settled at 1.0
    assert pending.take_due(now=3.9) == []
    assert pending.take_due(now=4.0) == [10, 11, 12, 13, 14]


def test_twenty_three_waiting_make_two_full_requests_and_keep_three() -> None:
    pending: PendingDeletes[int] = PendingDeletes(max_delay=60.0)
    pending.add(range(23), now=0.0)

    assert pending.take_due(now=0.0) == list(range(20))
    assert pending.take_all() == [20, 21, 22]
    assert pending.deadline() is None


def test_a_zero_delay_deletes_every_settled_message_at_once() -> None:
    pending: PendingDeletes[str] = PendingDeletes(max_delay=0.0)
    pending.add(["a"], now=5.0)

    assert pending.take_due(now=5.0) == ["a"]


def test_the_long_poll_never_outlasts_the_oldest_deadline() -> None:
    pending: PendingDeletes[str] = PendingDeletes(max_delay=3.0)
    assert pending.receive_wait(now=0.0, wait_seconds=20) == 20  # nothing waits
    pending.add(["a"], now=0.0)

    assert pending.receive_wait(now=0.0, wait_seconds=20) == 3
    assert pending.receive_wait(now=0.0, wait_seconds=1) == 1
    assert pending.receive_wait(now=1.5, wait_seconds=20) == 1  # whole seconds, rounded down
    assert pending.receive_wait(now=2.5, wait_seconds=20) == 0  # a short poll
    assert pending.receive_wait(now=9.0, wait_seconds=20) == 0


def test_a_negative_delay_or_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        PendingDeletes(max_delay=-1.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        PendingDeletes(max_delay=1.0, batch=0)


def test_the_default_delay_shrinks_to_a_quarter_of_a_short_visibility_timeout() -> None:
    assert default_delete_delay(300) == DEFAULT_DELETE_DELAY
    assert default_delete_delay(3) == 0.75
    assert timing_problem(default_delete_delay(3), 0.0, 3) is None


def test_a_delay_and_window_past_half_the_visibility_timeout_are_refused() -> None:
    assert timing_problem(3.0, 0.0, 300) is None
    assert timing_problem(10.0, 5.0, 30) is None  # exactly half
    problem = timing_problem(10.0, 6.0, 30)
    assert problem == (
        "the delete delay plus the batch window (16 s) must be at most half the visibility "
        "timeout (30 s), or messages come back before they are deleted"
    )
    assert timing_problem(-1.0, 0.0, 30) == "the delete delay cannot be negative (got -1 s)"
    assert timing_problem(0.0, -0.5, 30) == "the batch window cannot be negative (got -0.5 s)"


def test_only_a_receive_that_brought_some_but_not_ten_waits_for_more() -> None:
    assert fill_wait(0, batch_window=0.5) == 0.0  # an idle queue: long polling waits instead
    assert fill_wait(3, batch_window=0.5) == 0.5
    assert fill_wait(10, batch_window=0.5) == 0.0
    assert fill_wait(3, batch_window=0.0) == 0.0
