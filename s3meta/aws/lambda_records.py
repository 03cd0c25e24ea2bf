"""SQS messages as Lambda delivers them (an event source mapping's records), read into the
``QueueMessage`` the bridge's rules take."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from s3meta.aws.sqs import Attribute, QueueMessage
from s3meta.domain.invocations import receive_count


def queue_message(record: Mapping[str, Any]) -> QueueMessage:
    """One Lambda SQS record as a ``QueueMessage``: its id, body, delivery number, sending
    time and message attributes (Lambda's camel-case form, binary values in base64).

    Lambda's records carry a receipt handle too, but the mapping, not the handler, deletes
    the messages: it is kept for the record only.
    """
    attributes = record.get("attributes")
    system = attributes if isinstance(attributes, Mapping) else {}
    sent = system.get("SentTimestamp")  # milliseconds since the epoch
    own = record.get("messageAttributes")
    message_attributes = {
        str(name): attribute
        for name, value in (own.items() if isinstance(own, Mapping) else ())
        if (attribute := _attribute(value)) is not None
    }
    body = record.get("body")
    return QueueMessage(
        message_id=str(record["messageId"]),
        receipt_handle=str(record.get("receiptHandle", "")),
        body=body if isinstance(body, str) else "",
        receive_count=receive_count(record),
        attributes=message_attributes,
        sent_at=_sent_at(sent),
    )


def _attribute(value: object) -> Attribute | None:
    if not isinstance(value, Mapping):
        return None
    data_type = value.get("dataType")
    if not isinstance(data_type, str):
        return None
    if isinstance(value.get("stringValue"), str):
        return Attribute(value["stringValue"], data_type)
    if isinstance(value.get("binaryValue"), str):
        try:
            return Attribute(base64.b64decode(value["binaryValue"], validate=True), data_type)
        except binascii.Error:
            return None
    return None  # list values: reserved by SQS, which accepts none


def _sent_at(sent: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(sent)) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
