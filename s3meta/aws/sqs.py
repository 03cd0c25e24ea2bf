"""The events and dead-letter queues, with botocore's errors turned into s3meta's."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import NO_SUCH_QUEUE, Failure, classify, describe
from s3meta.errors import PermanentError, QueueNotFound, QueueUnavailable

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeFilterType
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
    )

    from s3meta.config import Settings

# SQS takes at most 10 messages per receive and per batch call.
BATCH_LIMIT = 10
# SQS refuses a message with more message attributes than this.
ATTRIBUTE_LIMIT = 10
# A message attribute is limited only by the 256 KiB message; keep reasons readable.
_REASON_LIMIT = 1000
# The message attributes a dead-lettered message carries (``DeadLetters.send``).
REASON_ATTRIBUTE = "s3meta-reason"
SOURCE_QUEUE_ATTRIBUTE = "s3meta-source-queue"
ORIGINAL_ID_ATTRIBUTE = "s3meta-original-message-id"
RECEIVE_COUNT_ATTRIBUTE = "s3meta-receive-count"
# The original's own attributes, as JSON, when they and the four above exceed ATTRIBUTE_LIMIT.
PACKED_ATTRIBUTE = "s3meta-original-attributes"
_OWN_ATTRIBUTES = frozenset(
    {
        REASON_ATTRIBUTE,
        SOURCE_QUEUE_ATTRIBUTE,
        ORIGINAL_ID_ATTRIBUTE,
        RECEIVE_COUNT_ATTRIBUTE,
        PACKED_ATTRIBUTE,
    }
)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One message attribute as SQS holds it: text (String, Number) or bytes (Binary).

    ``data_type`` is kept exactly, custom suffix included (``Number.int``, ``Binary.gif``).
    """

    value: str | bytes
    data_type: str = "String"

    def to_json(self) -> dict[str, str]:
        """SQS's own form of the attribute, bytes in base64: ``{"DataType", "StringValue"}``."""
        if isinstance(self.value, bytes):
            return {
                "DataType": self.data_type,
                "BinaryValue": base64.b64encode(self.value).decode("ascii"),
            }
        return {"DataType": self.data_type, "StringValue": self.value}

    @classmethod
    def from_json(cls, value: object) -> Attribute:
        """The attribute ``to_json`` gave; ``ValueError`` if ``value`` is not of that form."""
        if isinstance(value, dict) and isinstance(value.get("DataType"), str):
            if isinstance(value.get("StringValue"), str):
                return cls(value["StringValue"], value["DataType"])
            if isinstance(value.get("BinaryValue"), str):
                try:
                    binary = base64.b64decode(value["BinaryValue"], validate=True)
                except binascii.Error as exc:
                    raise ValueError(f"BinaryValue is not base64: {exc}") from None
                return cls(binary, value["DataType"])
        raise ValueError(f"not a message attribute: {value!r:.80}")


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One received message."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    # Its message attributes, exactly; compare=False keeps a message hashable.
    attributes: Mapping[str, Attribute] = field(default_factory=dict, compare=False)
    sent_at: datetime | None = None

    def text(self, name: str) -> str | None:
        """The text of attribute ``name``; ``None`` if it is missing or binary."""
        attribute = self.attributes.get(name)
        return attribute.value if attribute and isinstance(attribute.value, str) else None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """GetQueueAttributes' approximate counts."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        return self.visible + self.in_flight + self.delayed


class Queue:
    """One SQS queue, found by name on first use."""

    def __init__(self, client: SQSClient, name: str) -> None:
        self._client = client
        self.name = name
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            with sqs_errors(f"queue {self.name!r}"):
                self._url = self._client.get_queue_url(QueueName=self.name)["QueueUrl"]
        return self._url

    def receive(
        self, *, wait_seconds: int, visibility_timeout: int, max_messages: int = BATCH_LIMIT
    ) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, long-polling up to ``wait_seconds``."""
        return self._receive(
            f"receive messages on {self.name!r}",
            wait_seconds=wait_seconds,
            visibility_timeout=visibility_timeout,
            max_messages=max_messages,
        )

    def peek(self, *, wait_seconds: int) -> list[QueueMessage]:
        """Up to 10 visible messages, left visible to consumers (a visibility timeout of 0).

        Each still counts as a receive toward the queue's redrive policy.
        """
        return self._receive(
            f"peek at {self.name!r}",
            wait_seconds=wait_seconds,
            visibility_timeout=0,
            max_messages=BATCH_LIMIT,
        )

    def _receive(
        self, what: str, *, wait_seconds: int, visibility_timeout: int, max_messages: int
    ) -> list[QueueMessage]:
        with sqs_errors(what):
            response = self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=min(max_messages, BATCH_LIMIT),
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=visibility_timeout,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        return [_queue_message(message) for message in response.get("Messages", [])]

    def release(self, messages: Sequence[QueueMessage]) -> None:
        """Make received ``messages`` visible again now, rather than at their timeout."""
        for start in range(0, len(messages), BATCH_LIMIT):
            batch = messages[start : start + BATCH_LIMIT]
            with sqs_errors(f"release messages on {self.name!r}"):
                self._client.change_message_visibility_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {
                            "Id": str(index),
                            "ReceiptHandle": message.receipt_handle,
                            "VisibilityTimeout": 0,
                        }
                        for index, message in enumerate(batch)
                    ],
                )

    def delete(self, messages: Sequence[QueueMessage]) -> list[str]:
        """Delete ``messages`` in batches; returns the ids SQS failed to delete."""
        failed: list[str] = []
        for start in range(0, len(messages), BATCH_LIMIT):
            batch = messages[start : start + BATCH_LIMIT]
            with sqs_errors(f"delete messages on {self.name!r}"):
                response = self._client.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message.receipt_handle}
                        for index, message in enumerate(batch)
                    ],
                )
            failed += [batch[int(entry["Id"])].message_id for entry in response.get("Failed", [])]
        return failed

    def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
        """Send one message with ``attributes``, their data types kept; returns its id."""
        message_attributes = {
            name: _sqs_attribute(attribute) for name, attribute in (attributes or {}).items()
        }
        with sqs_errors(f"send to {self.name!r}"):
            response = self._client.send_message(
                QueueUrl=self.url, MessageBody=body, MessageAttributes=message_attributes
            )
        return response["MessageId"]

    def attributes(self, names: Sequence[QueueAttributeFilterType] = ("All",)) -> dict[str, str]:
        """The queue's attributes (GetQueueAttributes), all of them unless ``names`` says."""
        with sqs_errors(f"attributes of {self.name!r}"):
            response = self._client.get_queue_attributes(
                QueueUrl=self.url, AttributeNames=list(names)
            )
        return {str(key): str(value) for key, value in response.get("Attributes", {}).items()}

    def depth(self) -> QueueDepth:
        attributes = self.attributes(
            (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )
        return QueueDepth(
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
        )


def pipeline_queues(client: SQSClient, settings: Settings) -> list[tuple[str, Queue]]:
    """s3meta's queues as ``(role, queue)``: events, task (Celery's broker), dead-letter."""
    return [
        ("events", Queue(client, settings.events_queue)),
        ("task", Queue(client, settings.task_queue)),
        ("dead-letter", Queue(client, settings.dead_letter_queue)),
    ]


class DeadLetters:
    """Where unusable event messages go: the original body and attributes, with why and whence."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def send(self, message: QueueMessage, reason: str, source_queue: str) -> str:
        return self.queue.send(message.body, dead_letter_attributes(message, reason, source_queue))


def dead_letter_attributes(
    message: QueueMessage, reason: str, source_queue: str
) -> dict[str, Attribute]:
    """The attributes of ``message``'s dead letter: its own, and why and whence it came.

    The original's attributes keep their names while they and s3meta's four fit SQS's
    limit of 10; past it (more than six) all of them go, as JSON, into the one attribute
    ``s3meta-original-attributes``, which ``original_attributes`` reads back. Either way
    none is lost. Attributes s3meta wrote on an earlier dead-lettering are replaced.
    """
    own = {
        REASON_ATTRIBUTE: Attribute(" ".join(reason.split())[:_REASON_LIMIT]),
        SOURCE_QUEUE_ATTRIBUTE: Attribute(source_queue),
        ORIGINAL_ID_ATTRIBUTE: Attribute(message.message_id),
        RECEIVE_COUNT_ATTRIBUTE: Attribute(str(message.receive_count)),
    }
    original = original_attributes(message)
    if len(original) + len(own) <= ATTRIBUTE_LIMIT:
        return {**original, **own}
    packed = {name: attribute.to_json() for name, attribute in sorted(original.items())}
    return {**own, PACKED_ATTRIBUTE: Attribute(json.dumps(packed, ensure_ascii=False))}


def original_attributes(message: QueueMessage) -> dict[str, Attribute]:
    """The attributes ``message`` had before s3meta dead-lettered it: all but s3meta's own,
    and those it packed into ``s3meta-original-attributes``.

    Raise ``PermanentError`` if that attribute is not what ``dead_letter_attributes`` writes.
    """
    kept = {
        name: value for name, value in message.attributes.items() if name not in _OWN_ATTRIBUTES
    }
    packed = message.attributes.get(PACKED_ATTRIBUTE)
    if packed is None:
        return kept
    try:
        if not isinstance(packed.value, str):
            raise ValueError("it is binary")
        entries = json.loads(packed.value)
        if not isinstance(entries, dict):
            raise ValueError("it is not a JSON object")
        unpacked = {str(name): Attribute.from_json(value) for name, value in entries.items()}
    except ValueError as exc:  # json.JSONDecodeError is one
        raise PermanentError(
            f"message {message.message_id}: its {PACKED_ATTRIBUTE} attribute is not the JSON "
            f"s3meta writes ({exc}); the message was left where it is"
        ) from None
    return {**unpacked, **kept}


def _sqs_attribute(attribute: Attribute) -> MessageAttributeValueTypeDef:
    if isinstance(attribute.value, bytes):
        return {"DataType": attribute.data_type, "BinaryValue": attribute.value}
    return {"DataType": attribute.data_type, "StringValue": attribute.value}


def _attribute(value: MessageAttributeValueOutputTypeDef) -> Attribute | None:
    if "BinaryValue" in value:
        return Attribute(value["BinaryValue"], value["DataType"])
    if "StringValue" in value:
        return Attribute(value["StringValue"], value["DataType"])
    return None  # list values: reserved by SQS, which accepts none


def _queue_message(message: MessageTypeDef) -> QueueMessage:
    system = message.get("Attributes", {})
    sent = system.get("SentTimestamp")  # milliseconds since the epoch
    attributes = {
        name: _attribute(value) for name, value in message.get("MessageAttributes", {}).items()
    }
    return QueueMessage(
        message_id=message["MessageId"],
        receipt_handle=message["ReceiptHandle"],
        body=message.get("Body", ""),
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        attributes={name: value for name, value in attributes.items() if value is not None},
        sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
    )


@contextmanager
def sqs_errors(what: str) -> Iterator[None]:
    """botocore's errors from SQS calls made inside, as s3meta's; ``what`` names the call."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, NO_SUCH_QUEUE)
        if failure is Failure.NOT_FOUND:
            raise QueueNotFound(f"SQS {what}: no such queue (run `s3meta setup`)") from exc
        if failure is Failure.TRANSIENT:
            raise QueueUnavailable(f"SQS {what}: {describe(exc)}") from exc
        raise PermanentError(f"SQS {what}: {describe(exc)}") from exc
