"""The attributes ``s3meta setup`` wants on its queues, and the events queue's access policy.

The dead-letter queue, the events queue (redrive policy, visibility timeout, the statement
that lets S3 send to it) and the Celery task queue. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from s3meta.deployment.iam import POLICY_VERSION

# A message the bridge cannot publish stays on the events queue; after this many receives SQS
# moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
# Covers the bridge's batch (its --visibility-timeout default); the bridge also asks for it on
# every receive, so this is the queue's default for any other reader.
EVENTS_VISIBILITY_TIMEOUT = 300
# SQS keeps a dead-lettered message's original enqueue time, so the dead-letter queue must keep
# messages longer than the events queue does: 14 days, the most SQS allows.
DEAD_LETTER_RETENTION_SECONDS = 1_209_600

# The statement of the events queue's policy that s3meta owns; others are left alone.
POLICY_STATEMENT_ID = "s3meta-s3-notifications"
S3_SERVICE_PRINCIPAL = "s3.amazonaws.com"


def dead_letter_queue_attributes() -> dict[str, str]:
    return {"MessageRetentionPeriod": str(DEAD_LETTER_RETENTION_SECONDS)}


def events_queue_attributes(*, dead_letter_arn: str, policy: str) -> dict[str, str]:
    return {
        "VisibilityTimeout": str(EVENTS_VISIBILITY_TIMEOUT),
        "RedrivePolicy": redrive_policy(dead_letter_arn),
        "Policy": policy,
    }


def task_queue_attributes(visibility_timeout: int) -> dict[str, str]:
    return {"VisibilityTimeout": str(visibility_timeout)}


def redrive_policy(dead_letter_arn: str, max_receive_count: int = MAX_RECEIVE_COUNT) -> str:
    policy = {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
    return json.dumps(policy)


def events_queue_policy(
    existing: str | None, *, queue_arn: str, bucket_arns: Iterable[str], account_id: str
) -> str:
    """The events queue's policy: ``existing`` with s3meta's statement added or updated.

    The statement lets ``s3.amazonaws.com`` send to the queue for the given buckets of the
    account. Buckets already allowed by the statement stay allowed (their notifications keep
    working when setup runs for other buckets); other statements are kept.
    """
    document = parse_policy(existing) if existing else {}
    statements = _as_list(document.get("Statement", []))
    allowed = set(bucket_arns)
    for statement in statements:
        if isinstance(statement, Mapping) and statement.get("Sid") == POLICY_STATEMENT_ID:
            allowed.update(allowed_source_arns(statement))
    ours = _s3_statement(queue_arn, sorted(allowed), account_id)
    merged: list[Any] = []
    for statement in statements:
        if isinstance(statement, Mapping) and statement.get("Sid") == POLICY_STATEMENT_ID:
            if ours not in merged:
                merged.append(ours)
        else:
            merged.append(statement)
    if ours not in merged:
        merged.append(ours)
    result = {"Version": POLICY_VERSION, "Id": f"{queue_arn}/s3meta", **document}
    result["Statement"] = merged
    return json.dumps(result)


def allowed_source_arns(statement: Mapping[str, Any]) -> list[str]:
    """The ``aws:SourceArn`` values of a statement's ArnLike/ArnEquals conditions."""
    found: list[str] = []
    conditions = statement.get("Condition", {})
    for operator in ("ArnLike", "ArnEquals"):
        values = conditions.get(operator, {}).get("aws:SourceArn", [])
        found += [str(value) for value in _as_list(values)]
    return found


def parse_policy(text: str) -> dict[str, Any]:
    """A policy document; ``ValueError`` if it is not a JSON object."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the queue policy is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("the queue policy is not a JSON object")
    return document


def attribute_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str]:
    """The desired attributes whose value differs from ``current``'s (JSON compared as such)."""
    return {
        name: value
        for name, value in desired.items()
        if not _same_attribute(name, current.get(name), value)
    }


def canonical_json(value: Any) -> Any:
    """A form of a policy where order and one-element lists do not matter (for comparing)."""
    if isinstance(value, Mapping):
        return {str(key): canonical_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        items = [canonical_json(item) for item in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


def _same_attribute(name: str, current: str | None, desired: str) -> bool:
    if current is None:
        return False
    if name in {"Policy", "RedrivePolicy", "RedriveAllowPolicy"}:
        try:
            first, second = json.loads(current), json.loads(desired)
        except json.JSONDecodeError:
            return current == desired
        if name == "RedrivePolicy" and isinstance(first, dict) and isinstance(second, dict):
            # SQS has returned maxReceiveCount both as a number and as a string.
            first = {**first, "maxReceiveCount": str(first.get("maxReceiveCount"))}
            second = {**second, "maxReceiveCount": str(second.get("maxReceiveCount"))}
        return bool(canonical_json(first) == canonical_json(second))
    return current.strip() == desired.strip()


def _s3_statement(queue_arn: str, source_arns: list[str], account_id: str) -> dict[str, Any]:
    return {
        "Sid": POLICY_STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": S3_SERVICE_PRINCIPAL},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_arns},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [value]
