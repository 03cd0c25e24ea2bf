"""Lambda's event envelopes, as the service delivers them, around events-queue bodies."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"


def sqs_record(
    body: str,
    *,
    queue: str = "s3meta-events",
    receive_count: int = 1,
    message_id: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One record of an SQS event source mapping's batch, in Lambda's own form."""
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": f"AQEB{uuid.uuid4().hex}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": attributes or {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}",
        "awsRegion": "us-east-1",
    }


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def string_attribute(value: str) -> dict[str, Any]:
    return {
        "stringValue": value,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }


def binary_attribute(value: bytes) -> dict[str, Any]:
    return {
        "binaryValue": base64.b64encode(value).decode(),
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "Binary",
    }


def s3_record(
    bucket: str, key: str, event_name: str = "ObjectCreated:Put", **obj: Any
) -> dict[str, Any]:
    """One S3 notification record (the key form-encoded, as S3 sends it)."""
    from urllib.parse import quote_plus

    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": obj.pop("event_time", "2026-11-20T10:15:30.123Z"),
        "eventName": event_name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), **obj},
        },
    }


def notification(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


@dataclass
class Context:
    """What Lambda hands the handler: the request id and the time left."""

    remaining_ms: list[int] = field(default_factory=lambda: [900_000])
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "s3meta-indexer"

    def get_remaining_time_in_millis(self) -> int:
        """The next figure of ``remaining_ms`` (the last one for ever after)."""
        if len(self.remaining_ms) > 1:
            return self.remaining_ms.pop(0)
        return self.remaining_ms[0]
