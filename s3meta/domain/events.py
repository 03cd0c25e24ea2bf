"""Parsing the bodies that arrive on the events queue. Pure: no I/O, never raises on bad input.

A body is one of: S3's own notification (``{"Records": [...]}``), the same wrapped in an SNS
envelope (raw message delivery off), an EventBridge event from ``aws.s3``, or S3's
``s3:TestEvent``. Anything else is rejected with a reason, for the dead-letter queue.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from s3meta.domain.event_names import CREATED, LIFECYCLE_EXPIRATION, REMOVED
from s3meta.domain.names import bucket_name_problem, key_problem
from s3meta.domain.objects import parse_timestamp
from s3meta.domain.provenance import cleaned

# The only S3 event message major version this code understands (2.1, 2.2, 2.3 ... all fit).
SUPPORTED_MAJOR_VERSION = 2

# An SQS message attribute is capped in size, and a reason should be readable in a log line.
MAX_REASON_CHARS = 300
_QUOTE_CHARS = 80

_VERSION = re.compile(r"([0-9]{1,9})\.([0-9]{1,9})")
_HEX = re.compile(r"[0-9A-Fa-f]+")

_EVENTBRIDGE_CREATED_REASONS = {
    "PutObject": "Put",
    "POST Object": "Post",
    "CopyObject": "Copy",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}
_SNS_CONFIRMATIONS = {
    "SubscriptionConfirmation": (
        "SNS SubscriptionConfirmation: nothing to index; an operator must confirm the "
        "subscription (visit its SubscribeURL) before notifications arrive"
    ),
    "UnsubscribeConfirmation": (
        "SNS UnsubscribeConfirmation: nothing to index; the subscription was removed and "
        "must be subscribed and confirmed again for notifications to arrive"
    ),
}


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One event on one object: what the bridge turns into one ``extract_metadata`` task."""

    bucket: str
    key: str  # decoded: S3 sends keys form-encoded
    event_name: str  # without the "s3:" prefix, e.g. "ObjectCreated:Put"
    event_time: str | None = None  # ISO 8601, as S3 sent it
    version_id: str | None = None
    size: int | None = None
    etag: str | None = None
    sequencer: str | None = None
    # Who and how (``s3meta.domain.provenance``): None where the event has none.
    principal_id: str | None = None
    source_ip_address: str | None = None
    request_id: str | None = None
    host_id: str | None = None  # x-amz-id-2
    configuration_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What one events-queue body holds.

    ``events`` are the usable object events. ``rejected`` is None when the whole body was
    understood; otherwise it says why (part of) the body cannot be used, and the message
    belongs in the dead-letter queue, after any usable events in it were published.
    ``test_event`` is True for S3's ``s3:TestEvent``, which is acknowledged and dropped.
    """

    events: tuple[ObjectEvent, ...] = ()
    rejected: str | None = None
    test_event: bool = False
    source: str = "unknown"  # "s3", "sns", "eventbridge": for logs
    details: tuple[str, ...] = field(default=())  # one line per rejected record


def parse_body(body: str) -> ParsedMessage:
    """Parse one message body from the events queue; never raises."""
    return _parse(body, inside_sns=False)


class _Unusable(Exception):
    """Why a record or a body cannot be used; never leaves this module."""


def _parse(body: str, *, inside_sns: bool) -> ParsedMessage:
    source = "sns" if inside_sns else "unknown"
    if not _is_utf8(body):
        return _rejected("body is not valid UTF-8 text (it holds lone surrogates)", source)
    try:
        message = json.loads(body)
    except json.JSONDecodeError as exc:
        return _rejected(f"body is not JSON: {exc}", source)
    except RecursionError:
        return _rejected("body is not usable JSON: it is nested too deeply", source)
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        return _rejected(f"body is not usable JSON: {exc}", source)
    if not isinstance(message, dict):
        return _rejected(f"body is JSON but not an object (got {_json_type(message)})", source)

    if "Records" in message:
        return _s3_notification(message["Records"], "sns" if inside_sns else "s3")
    if message.get("Event") == "s3:TestEvent":
        return ParsedMessage(test_event=True, source="sns" if inside_sns else "s3")
    if message.get("Type") in ("Notification", *_SNS_CONFIRMATIONS):
        if inside_sns:
            return _rejected("SNS envelope inside an SNS envelope: not supported", source)
        return _sns_envelope(message)
    if message.get("source") == "aws.s3":
        return _eventbridge(message, "sns" if inside_sns else "eventbridge")
    return _rejected(
        "JSON object is neither an S3 notification, an SNS envelope nor an EventBridge event "
        f"from aws.s3 (keys: {_key_list(message)})",
        source,
    )


def _s3_notification(records: object, source: str) -> ParsedMessage:
    if not isinstance(records, list):
        return _rejected(f"Records must be a non-empty list, got {_json_type(records)}", source)
    if not records:
        return _rejected("Records is an empty list", source)
    events: list[ObjectEvent] = []
    details: list[str] = []
    for number, record in enumerate(records, start=1):
        try:
            events.append(_s3_record(record))
        except _Unusable as exc:
            details.append(_clip(f"record {number}: {exc}"))
    if not details:
        return ParsedMessage(events=tuple(events), source=source)
    noun = "record" if len(records) == 1 else "records"
    summary = f"{len(details)} of {len(records)} {noun} unusable: " + "; ".join(details)
    return ParsedMessage(
        events=tuple(events), rejected=_clip(summary), source=source, details=tuple(details)
    )


def _s3_record(record: object) -> ObjectEvent:
    if not isinstance(record, dict):
        raise _Unusable(f"not a JSON object (got {_json_type(record)})")
    # The version comes first: a record of an unknown major version may differ in any field.
    _check_event_version(record.get("eventVersion"))
    event_name = _required_str(record, "eventName", "eventName").removeprefix("s3:")
    if not event_name:
        raise _Unusable("eventName is empty")
    s3 = _required_object(record, "s3", "s3")
    bucket = _bucket_name(_required_object(s3, "bucket", "s3.bucket"), "s3.bucket.name")
    obj = _required_object(s3, "object", "s3.object")
    return ObjectEvent(
        bucket=bucket,
        key=_decoded_key(_required_str(obj, "key", "s3.object.key"), "s3.object.key"),
        event_name=event_name,
        event_time=_optional_time(record, "eventTime", "eventTime"),
        version_id=_optional_version_id(obj, "versionId", "s3.object.versionId"),
        size=_optional_size(obj, "size", "s3.object.size"),
        etag=_optional_etag(obj, "eTag", "s3.object.eTag"),
        sequencer=_optional_sequencer(obj, "sequencer", "s3.object.sequencer"),
        **cleaned(
            {
                "principal_id": _inner(record, "userIdentity", "principalId"),
                "source_ip_address": _inner(record, "requestParameters", "sourceIPAddress"),
                "request_id": _inner(record, "responseElements", "x-amz-request-id"),
                "host_id": _inner(record, "responseElements", "x-amz-id-2"),
                "configuration_id": s3.get("configurationId"),
            }
        ),
    )


def _inner(record: dict[str, Any], outer: str, name: str) -> object:
    """``record[outer][name]``, or None where either is missing or not an object."""
    container = record.get(outer)
    return container.get(name) if isinstance(container, dict) else None


def _check_event_version(version: object) -> None:
    if version is None:
        raise _Unusable("eventVersion is missing")
    if not isinstance(version, str):
        raise _Unusable(f"eventVersion must be a string, got {_json_type(version)}")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise _Unusable(f"eventVersion {_quote(version)} is not MAJOR.MINOR")
    major = int(match.group(1))
    if major != SUPPORTED_MAJOR_VERSION:
        raise _Unusable(
            f"eventVersion {_quote(version)} has major version {major}; "
            f"only {SUPPORTED_MAJOR_VERSION}.x is supported"
        )


def _sns_envelope(envelope: dict[str, Any]) -> ParsedMessage:
    kind = envelope["Type"]
    if kind in _SNS_CONFIRMATIONS:
        return _rejected(_SNS_CONFIRMATIONS[kind], "sns")
    inner = envelope.get("Message")
    if not isinstance(inner, str):
        found = "missing" if inner is None else _json_type(inner)
        return _rejected(f"SNS Notification has no string Message ({found})", "sns")
    parsed = _parse(inner, inside_sns=True)
    if parsed.rejected is None:
        return parsed
    return ParsedMessage(
        events=parsed.events,
        rejected=_clip(f"SNS Message: {parsed.rejected}"),
        test_event=parsed.test_event,
        source="sns",
        details=parsed.details,
    )


def _eventbridge(message: dict[str, Any], source: str) -> ParsedMessage:
    try:
        event = _eventbridge_event(message)
    except _Unusable as exc:
        return _rejected(f"EventBridge event: {exc}", source)
    return ParsedMessage(events=(event,), source=source)


def _eventbridge_event(message: dict[str, Any]) -> ObjectEvent:
    detail_type = _required_str(message, "detail-type", "detail-type")
    detail = _required_object(message, "detail", "detail")
    bucket = _bucket_name(_required_object(detail, "bucket", "detail.bucket"), "detail.bucket.name")
    obj = _required_object(detail, "object", "detail.object")
    # EventBridge sends keys as plain text, unlike S3 notifications: no unquoting.
    key = _required_str(obj, "key", "detail.object.key")
    _check_key(key, "detail.object.key")
    return ObjectEvent(
        bucket=bucket,
        key=key,
        event_name=_eventbridge_event_name(detail_type, detail),
        event_time=_optional_time(message, "time", "time"),
        version_id=_optional_version_id(obj, "version-id", "detail.object.version-id"),
        size=_optional_size(obj, "size", "detail.object.size"),
        etag=_optional_etag(obj, "etag", "detail.object.etag"),
        sequencer=_optional_sequencer(obj, "sequencer", "detail.object.sequencer"),
        # EventBridge names no x-amz-id-2 and no notification configuration.
        **cleaned(
            {
                "principal_id": detail.get("requester"),
                "source_ip_address": detail.get("source-ip-address"),
                "request_id": detail.get("request-id"),
            }
        ),
    )


def _eventbridge_event_name(detail_type: str, detail: dict[str, Any]) -> str:
    reason = _optional_str(detail, "reason", "detail.reason")
    if detail_type == "Object Created":
        if not reason:
            return f"{CREATED}:*"
        return f"{CREATED}:" + _EVENTBRIDGE_CREATED_REASONS.get(reason, reason)
    if detail_type == "Object Deleted":
        deletion = _optional_str(detail, "deletion-type", "detail.deletion-type")
        family = LIFECYCLE_EXPIRATION if reason == "Lifecycle Expiration" else REMOVED
        suffix = "DeleteMarkerCreated" if deletion == "Delete Marker Created" else "Delete"
        return f"{family}:{suffix}"
    compact = detail_type.replace(" ", "")
    if not compact:
        raise _Unusable("detail-type is blank")
    return "EventBridge:" + compact


def _required_object(container: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    value = container.get(name)
    if value is None:
        raise _Unusable(f"{path} is missing")
    if not isinstance(value, dict):
        raise _Unusable(f"{path} must be a JSON object, got {_json_type(value)}")
    return value


def _required_str(container: dict[str, Any], name: str, path: str) -> str:
    value = _optional_str(container, name, path)
    if value is None:
        raise _Unusable(f"{path} is missing")
    return value


def _optional_str(container: dict[str, Any], name: str, path: str) -> str | None:
    value = container.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unusable(f"{path} must be a string, got {_json_type(value)}")
    if not _is_utf8(value):
        raise _Unusable(f"{path} is not valid UTF-8 text")
    return value


def _bucket_name(bucket: dict[str, Any], path: str) -> str:
    name = _required_str(bucket, "name", path)
    if not name:
        raise _Unusable(f"{path} is empty")
    # S3 never sends a name it would not allow; its task could only fail, on every requeue.
    problem = bucket_name_problem(name)
    if problem is not None:
        raise _Unusable(f"{path}: {problem}")
    return name


def _decoded_key(raw: str, path: str) -> str:
    try:
        key = unquote_plus(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise _Unusable(f"{path} {_quote(raw)} has percent-escapes that are not UTF-8") from None
    _check_key(key, path)
    return key


def _check_key(key: str, path: str) -> None:
    problem = key_problem(key, path)
    if problem is not None:
        raise _Unusable(problem)


def _optional_time(container: dict[str, Any], name: str, path: str) -> str | None:
    value = _optional_str(container, name, path)
    if value is None:
        return None
    # The task parses it the same way; a time it cannot read would fail every retry there.
    try:
        parse_timestamp(value)
    except (ValueError, OverflowError):
        raise _Unusable(f"{path} {_quote(value)} is not an ISO 8601 timestamp") from None
    return value


def _optional_version_id(container: dict[str, Any], name: str, path: str) -> str | None:
    # An empty version id names no version; passing it on would only make HeadObject fail.
    return _optional_str(container, name, path) or None


def _optional_size(container: dict[str, Any], name: str, path: str) -> int | None:
    value = container.get(name)
    if value is None:
        return None
    # bool is an int in Python, but true is no size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unusable(f"{path} must be an integer, got {_json_type(value)}")
    if value < 0:
        raise _Unusable(f"{path} must not be negative, got {value}")
    return value


def _optional_etag(container: dict[str, Any], name: str, path: str) -> str | None:
    value = _optional_str(container, name, path)
    if value is None:
        return None
    return value.strip('"') or None


def _optional_sequencer(container: dict[str, Any], name: str, path: str) -> str | None:
    value = _optional_str(container, name, path)
    if value is not None and _HEX.fullmatch(value) is None:
        raise _Unusable(f"{path} {_quote(value)} is not hexadecimal")
    return value


def _rejected(reason: str, source: str) -> ParsedMessage:
    return ParsedMessage(rejected=_clip(reason), source=source)


def _is_utf8(text: str) -> bool:
    """False if ``text`` holds lone surrogates, which JSON escapes and ``str`` allow."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _quote(text: str) -> str:
    """``text`` quoted for a reason: repr escapes newlines and unprintables; long text cut."""
    if len(text) <= _QUOTE_CHARS:
        return repr(text)
    return repr(text[:_QUOTE_CHARS]) + "..."


def _key_list(message: dict[str, Any], limit: int = 8) -> str:
    names = sorted(message)
    if not names:
        return "none"
    listed = ", ".join(_quote(name) for name in names[:limit])
    return listed + ", ..." if len(names) > limit else listed


def _clip(text: str) -> str:
    if len(text) <= MAX_REASON_CHARS:
        return text
    return text[: MAX_REASON_CHARS - 3] + "..."
