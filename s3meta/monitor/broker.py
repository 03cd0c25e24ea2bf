"""Queue depths for Flower's broker page and ``/api/queues/length``, read from SQS.

Flower's own broker clients speak only to RabbitMQ's management API and to Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from s3meta.aws.sqs import QueueDepth
from s3meta.errors import QueueNotFound

# The role of a queue Flower names that is not one of s3meta's own: workers consume it.
TASK_ROLE = "task"


class MeasuredQueue(Protocol):
    """A queue whose depth can be read (``s3meta.aws.sqs.Queue``)."""

    name: str

    def depth(self) -> QueueDepth: ...


class SQSBroker:
    """Flower's broker client for SQS: ``queues()`` answers as its RabbitMQ client does.

    ``pipeline`` is s3meta's ``(role, queue)`` list, always reported; ``queue_for`` makes
    a queue for any other name Flower asks about (a worker's ``-Q``).
    """

    def __init__(
        self,
        pipeline: Sequence[tuple[str, MeasuredQueue]],
        queue_for: Callable[[str], MeasuredQueue],
    ) -> None:
        self._pipeline = list(pipeline)
        self._queue_for = queue_for
        # Queues are kept so that each looks its URL up once per process, not per request.
        self._known: dict[str, tuple[str, MeasuredQueue]] = {
            queue.name: (role, queue) for role, queue in self._pipeline
        }

    async def queues(self, names: Iterable[str]) -> list[dict[str, Any]]:
        """One entry per queue in ``names``, then s3meta's queues not among them."""
        asked = list(dict.fromkeys(names))
        for name in asked:
            if name not in self._known:
                self._known[name] = (TASK_ROLE, self._queue_for(name))
        listed = [self._known[name] for name in asked]
        listed += [(role, queue) for role, queue in self._pipeline if queue.name not in asked]
        # boto3 blocks: the calls run on the executor, never on Tornado's event loop.
        loop = asyncio.get_running_loop()
        depths = await asyncio.gather(
            *(loop.run_in_executor(None, depth_or_none, queue) for _, queue in listed)
        )
        return [
            queue_length(role, queue.name, depth)
            for (role, queue), depth in zip(listed, depths, strict=True)
        ]


def depth_or_none(queue: MeasuredQueue) -> QueueDepth | None:
    """``queue``'s depth; None when the queue does not exist."""
    try:
        return queue.depth()
    except QueueNotFound:
        return None


def queue_length(role: str, name: str, depth: QueueDepth | None) -> dict[str, Any]:
    """One queue as Flower shows it, with RabbitMQ's key names.

    ``messages`` counts every message (visible, in flight and delayed); ``messages_ready``
    the visible ones, ``messages_unacknowledged`` those in flight (received, not yet
    deleted), ``messages_delayed`` those not yet visible. A missing queue has None counts.
    """
    counts = (
        {
            "messages": depth.total,
            "messages_ready": depth.visible,
            "messages_unacknowledged": depth.in_flight,
            "messages_delayed": depth.delayed,
        }
        if depth is not None
        else dict.fromkeys(
            ("messages", "messages_ready", "messages_unacknowledged", "messages_delayed")
        )
    )
    return {"name": name, "role": role, "exists": depth is not None, **counts}
