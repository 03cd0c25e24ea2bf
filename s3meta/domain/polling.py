"""When the bridge deletes the event messages it is done with, and how long it polls.

At a steady low rate a receive returns one or two messages; deleting them at once would cost
a DeleteMessageBatch per loop. Instead settled messages wait in ``PendingDeletes`` until ten
fill a request or the oldest has waited ``max_delay`` seconds, whichever comes first, and
the bridge flushes them all whenever it stops, drains or finds the queue idle. A message is
settled only once every task it yields was accepted, so the wait risks nothing but a
redelivery (the tasks are idempotent) if the bridge dies before the flush.

The wait must end well inside the visibility timeout the bridge receives with, or SQS hands
the message to another consumer before it is deleted: ``timing_problem`` says when the
settings would allow that. Pure: every time is passed in (monotonic seconds).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

# SQS deletes at most ten messages per DeleteMessageBatch.
DELETE_BATCH = 10
# How long a settled message waits for nine more, by default.
DEFAULT_DELETE_DELAY = 3.0
# The default delay never exceeds this share of the visibility timeout.
_DEFAULT_SHARE = 0.25
# A received message may spend at most this share of its visibility timeout waiting (for a
# batch to fill, then for its delete); the rest is left to publishing and deleting.
WAIT_SHARE = 0.5


def default_delete_delay(visibility_timeout: float) -> float:
    """``DEFAULT_DELETE_DELAY``, shortened to a quarter of a short visibility timeout."""
    return min(DEFAULT_DELETE_DELAY, visibility_timeout * _DEFAULT_SHARE)


def timing_problem(
    delete_delay: float, batch_window: float, visibility_timeout: float
) -> str | None:
    """Why these settings could let a message's visibility timeout end before its delete;
    None if they cannot."""
    if delete_delay < 0:
        return f"the delete delay cannot be negative (got {delete_delay:g} s)"
    if batch_window < 0:
        return f"the batch window cannot be negative (got {batch_window:g} s)"
    held = delete_delay + batch_window
    if held > visibility_timeout * WAIT_SHARE:
        return (
            f"the delete delay plus the batch window ({held:g} s) must be at most half the "
            f"visibility timeout ({visibility_timeout:g} s), or messages come back before "
            f"they are deleted"
        )
    return None


class PendingDeletes(Generic[T]):
    """Settled messages waiting for their delete, oldest first."""

    def __init__(self, max_delay: float, batch: int = DELETE_BATCH) -> None:
        if max_delay < 0 or batch < 1:
            raise ValueError(f"max_delay {max_delay!r} and batch {batch!r} must be >= 0 and >= 1")
        self.max_delay = max_delay
        self.batch = batch
        self._waiting: deque[tuple[float, T]] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, items: Iterable[T], now: float) -> None:
        """``items`` were settled at ``now``."""
        self._waiting.extend((now, item) for item in items)

    def deadline(self) -> float | None:
        """When the oldest must be deleted; None if nothing waits."""
        return self._waiting[0][0] + self.max_delay if self._waiting else None

    def take_due(self, now: float) -> list[T]:
        """What to delete now: everything once the oldest has waited ``max_delay``, else
        the oldest whole requests' worth (ten to a request), else nothing."""
        deadline = self.deadline()
        if deadline is not None and now >= deadline:
            return self.take_all()
        whole = len(self._waiting) // self.batch * self.batch
        return [self._waiting.popleft()[1] for _ in range(whole)]

    def take_all(self) -> list[T]:
        """Everything waiting: at a stop, a drain or an idle queue."""
        items = [item for _, item in self._waiting]
        self._waiting.clear()
        return items

    def receive_wait(self, now: float, wait_seconds: int) -> int:
        """Long polling's wait for the next receive, in whole seconds as SQS takes it: at most
        ``wait_seconds``, and never past the oldest one's deadline (0 is a short poll)."""
        deadline = self.deadline()
        if deadline is None:
            return wait_seconds
        return max(0, min(wait_seconds, math.floor(deadline - now)))


def fill_wait(received: int, batch_window: float, limit: int = DELETE_BATCH) -> float:
    """How long to let messages gather before topping up a receive that brought ``received``:
    the whole ``batch_window`` if it brought some but fewer than a full batch, else none."""
    return batch_window if 0 < received < limit else 0.0
