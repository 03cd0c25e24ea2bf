"""When acknowledged task messages are deleted: in batches of up to ten, within a bounded delay.

A worker acknowledges a task once it returned (``task_acks_late``), so its outcome is already
committed; what is left is to delete the message from SQS. One DeleteMessageBatch deletes up
to ten. ``PendingAcks`` holds the acknowledged messages not yet deleted, per queue, and says
which to delete when: a queue's ten oldest as soon as it has ten, and every one of a queue
once its oldest has waited ``delay`` seconds. A delay of 0 deletes each at once, alone.

Nothing here sends anything or reads a clock: callers pass ``now`` (``time.monotonic()``).
A message whose delete never goes out (a killed worker) is only delivered again once its
visibility timeout ends; the task is idempotent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

# SQS takes at most ten entries per DeleteMessageBatch.
BATCH_SIZE = 10

Queue = TypeVar("Queue", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Batch(Generic[Queue]):
    """Receipt handles of one queue to delete in one request (1 to ``BATCH_SIZE`` of them)."""

    queue: Queue
    handles: tuple[str, ...]


class PendingAcks(Generic[Queue]):
    """Acknowledged messages awaiting their delete, and which batches are due."""

    def __init__(self, delay: float, size: int = BATCH_SIZE) -> None:
        if delay < 0:
            raise ValueError(f"the ack batch delay must be 0 or more seconds, not {delay}")
        if not 1 <= size <= BATCH_SIZE:
            raise ValueError(f"a batch holds 1 to {BATCH_SIZE} entries, not {size}")
        self.delay = delay
        self.size = 1 if delay == 0 else size
        # queue -> (receipt handle, when it was acknowledged), oldest first.
        self._pending: dict[Queue, deque[tuple[str, float]]] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._pending.values())

    def add(self, queue: Queue, handle: str, now: float) -> None:
        """Record that the message with ``handle`` on ``queue`` was acknowledged at ``now``."""
        self._pending.setdefault(queue, deque()).append((handle, now))

    def due(self, now: float) -> list[Batch[Queue]]:
        """Take the batches to send at ``now``: full ones, and every entry of a queue whose
        oldest entry has waited ``delay`` seconds."""
        batches: list[Batch[Queue]] = []
        for queue in list(self._pending):
            entries = self._pending[queue]
            while len(entries) >= self.size:
                batches.append(self._take(queue, self.size))
            if entries and now - entries[0][1] >= self.delay:
                batches.append(self._take(queue, len(entries)))
            if not entries:
                del self._pending[queue]
        return batches

    def next_due(self) -> float | None:
        """When ``due`` next returns something (a time ``now`` compares with), or None if
        nothing is pending."""
        times = [
            entries[0][1] + (0.0 if len(entries) >= self.size else self.delay)
            for entries in self._pending.values()
        ]
        return min(times, default=None)

    def drain(self) -> list[Batch[Queue]]:
        """Take everything pending, in batches (closing, shutting down)."""
        batches: list[Batch[Queue]] = []
        for queue, entries in self._pending.items():
            while entries:
                batches.append(self._take(queue, min(len(entries), self.size)))
        self._pending.clear()
        return batches

    def _take(self, queue: Queue, count: int) -> Batch[Queue]:
        entries = self._pending[queue]
        taken = min(count, len(entries), self.size)
        handles = tuple(entries.popleft()[0] for _ in range(taken))
        return Batch(queue, handles)
