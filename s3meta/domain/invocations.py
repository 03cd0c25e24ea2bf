"""The rules of a Lambda invocation: which envelope it is, when to stop taking records, what
to answer. Pure: no I/O, no AWS library.

Lambda calls the handler with one of three shapes:

- an SQS event source mapping's batch (``{"Records": [{"eventSource": "aws:sqs", ...}]}``):
  each record is one events-queue message, whose body is what the bridge reads;
- an S3 trigger (``{"Records": [{"eventSource": "aws:s3", ...}]}``): the body itself;
- an EventBridge rule's event (``{"source": "aws.s3", ...}``): the body itself.

An SQS batch answers ``{"batchItemFailures": [...]}`` (the mapping's
``ReportBatchItemFailures``): only the messages named there return to the queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# What Lambda's SQS records carry in ``eventSource``.
SQS_EVENT_SOURCE = "aws:sqs"
# Left of the function's time when the handler stops taking records: one record's indexing
# (a HeadObject, a GetObjectTagging, one transaction) with room to answer.
DEFAULT_STOP_MARGIN_MS = 10_000


class InvocationKind(StrEnum):
    SQS = "sqs"  # a batch of events-queue messages
    DIRECT = "direct"  # an S3 trigger's or EventBridge's event: one body


class InvalidInvocation(ValueError):
    """An invocation no handler rule covers: the message says why, in one line."""


def invocation_kind(event: object) -> InvocationKind:
    """Which envelope ``event`` is; ``InvalidInvocation`` if it is not a JSON object.

    A ``Records`` list whose first record came from SQS is an SQS batch (a mapping sends
    nothing else in it); anything else is a body, which ``s3meta.domain.events.parse_body``
    accepts or rejects with a reason, as the bridge does.
    """
    if not isinstance(event, Mapping):
        raise InvalidInvocation(
            f"a Lambda event is a JSON object; got {type(event).__name__}: {str(event)[:80]!r}"
        )
    records = event.get("Records")
    if isinstance(records, list) and records and _from_sqs(records[0]):
        strays = [index for index, record in enumerate(records) if not _from_sqs(record)]
        if strays:
            raise InvalidInvocation(f"an SQS batch whose records {strays[:5]} are not SQS messages")
        return InvocationKind.SQS
    return InvocationKind.DIRECT


def _from_sqs(record: object) -> bool:
    return isinstance(record, Mapping) and record.get("eventSource") == SQS_EVENT_SOURCE


def direct_body(event: Mapping[str, Any]) -> str:
    """A direct invocation's event as the body the bridge would have received."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def queue_name_of(source_arn: object) -> str | None:
    """The queue's name in an SQS ``eventSourceARN`` (``arn:aws:sqs:REGION:ACCOUNT:NAME``)."""
    if not isinstance(source_arn, str) or not source_arn.startswith("arn:"):
        return None
    parts = source_arn.split(":")
    return parts[5] if len(parts) == 6 and parts[2] == "sqs" and parts[5] else None


def receive_count(record: Mapping[str, Any]) -> int:
    """The delivery number of an SQS record (``attributes.ApproximateReceiveCount``): the
    attempt number of every task the message holds; 1 when SQS left it out or garbled it."""
    attributes = record.get("attributes")
    value = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        count = int(str(value))
    except ValueError:
        return 1
    return max(count, 1)


@dataclass(frozen=True, slots=True)
class Cutoff:
    """When to stop taking records: once the function has ``margin_ms`` or less left."""

    margin_ms: int = DEFAULT_STOP_MARGIN_MS

    def reached(self, remaining_ms: int) -> bool:
        return remaining_ms <= self.margin_ms


class Verdict(StrEnum):
    """What becomes of one SQS message."""

    DONE = "done"  # every record indexed (or failed for good, recorded): deleted by Lambda
    DEAD_LETTERED = "dead-lettered"  # unusable, copied to the dead-letter queue: deleted
    RETRY = "retry"  # a transient failure: reported, SQS delivers it again
    NOT_STARTED = "not-started"  # the cut-off came first: reported, delivered again


@dataclass
class BatchOutcome:
    """The verdict on each message of an SQS batch, in order, and Lambda's answer."""

    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def add(self, message_id: str, verdict: Verdict) -> None:
        self.verdicts[message_id] = verdict

    @property
    def failed(self) -> list[str]:
        """The messages SQS must deliver again."""
        return [
            message_id
            for message_id, verdict in self.verdicts.items()
            if verdict in (Verdict.RETRY, Verdict.NOT_STARTED)
        ]

    def response(self) -> dict[str, list[dict[str, str]]]:
        return batch_response(self.failed)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((str(verdict) for verdict in Verdict), 0)
        for verdict in self.verdicts.values():
            counts[str(verdict)] += 1
        return counts


def batch_response(failed: Iterable[str]) -> dict[str, list[dict[str, str]]]:
    """Lambda's partial batch response: the messages to deliver again, none for a full success."""
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def message_ids(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ``messageId`` of each SQS record; ``InvalidInvocation`` if one has none, as then no
    answer could name it."""
    ids: list[str] = []
    for index, record in enumerate(records):
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            raise InvalidInvocation(f"SQS record {index} has no messageId")
        ids.append(message_id)
    return ids
