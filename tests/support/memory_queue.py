"""An SQS queue in memory, for operations that take a queue: no moto, no network."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from s3meta.aws.sqs import ATTRIBUTE_LIMIT, BATCH_LIMIT, Attribute, QueueDepth, QueueMessage
from s3meta.errors import PermanentError, QueueNotFound

SENT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class MemoryQueue:
    """Visible messages in order; a receive with a visibility timeout takes them in flight.

    Message ids are ``NAME-N``, the receipt handle is the id, and the N-th message was
    sent N seconds after ``SENT``. ``missing`` makes every call fail as for a queue that
    does not exist; a send of more than 10 attributes fails as SQS refuses it.
    """

    def __init__(self, name: str, *, missing: bool = False) -> None:
        self.name = name
        self.missing = missing
        self.visible: list[QueueMessage] = []
        self.in_flight: dict[str, QueueMessage] = {}
        self.deleted: list[QueueMessage] = []
        self.received = 0  # receive and peek calls
        self._numbers = itertools.count()

    @property
    def url(self) -> str:
        if self.missing:
            raise QueueNotFound(f"SQS queue {self.name!r}: no such queue (run `s3meta setup`)")
        return f"memory://{self.name}"

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
        _ = self.url
        if len(attributes or {}) > ATTRIBUTE_LIMIT:
            raise PermanentError(
                f"SQS send to {self.name!r}: InvalidParameterValue: Number of message "
                f"attributes [{len(attributes or {})}] exceeds the allowed maximum "
                f"[{ATTRIBUTE_LIMIT}]."
            )
        number = next(self._numbers)
        message_id = f"{self.name}-{number}"
        self.visible.append(
            QueueMessage(
                message_id,
                message_id,
                body,
                receive_count=0,
                attributes=dict(attributes or {}),
                sent_at=SENT + timedelta(seconds=number),
            )
        )
        return message_id

    def receive(
        self, *, wait_seconds: int, visibility_timeout: int, max_messages: int = BATCH_LIMIT
    ) -> list[QueueMessage]:
        _ = self.url
        self.received += 1
        batch = self.visible[: min(max_messages, BATCH_LIMIT)]
        if visibility_timeout > 0:
            del self.visible[: len(batch)]
            self.in_flight.update((message.message_id, message) for message in batch)
        return batch

    def peek(self, *, wait_seconds: int) -> list[QueueMessage]:
        return self.receive(wait_seconds=wait_seconds, visibility_timeout=0)

    def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
        for message in messages:
            self.deleted.append(self.in_flight.pop(message.message_id))
        return []

    def release(self, messages: Sequence[QueueMessage]) -> None:
        self.visible[:0] = [self.in_flight.pop(message.message_id) for message in messages]

    def depth(self) -> QueueDepth:
        _ = self.url
        return QueueDepth(visible=len(self.visible), in_flight=len(self.in_flight), delayed=0)

    def bodies(self) -> list[str]:
        """The bodies of the visible messages, in order."""
        return [message.body for message in self.visible]
