"""What ``s3meta setup`` wants AWS to look like. Pure: no I/O.

- the queues' attributes: the dead-letter queue, the events queue (redrive policy, visibility
  timeout, the access policy that lets S3 send to it) and the Celery task queue;
- the bucket's notification configuration with s3meta's queue configuration merged in,
  leaving every other consumer's configuration as it was;
- least-privilege IAM policies for the worker and the bridge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# What s3meta indexes: uploads, deletes, lifecycle expirations (which fire no ObjectRemoved),
# and tag changes (PutObjectTagging and DeleteObjectTagging fire no other event).
EVENTS: tuple[str, ...] = (
    "s3:ObjectCreated:*",
    "s3:ObjectRemoved:*",
    "s3:LifecycleExpiration:*",
    "s3:ObjectTagging:*",
)

# A message the bridge cannot publish stays on the events queue; after this many receives SQS
# moves it to the dead-letter queue.
MAX_RECEIVE_COUNT = 5
# Covers the bridge's batch (its --visibility-timeout default); the bridge also asks for it on
# every receive, so this is the queue's default for any other reader.
EVENTS_VISIBILITY_TIMEOUT = 300
# SQS keeps a dead-lettered message's original enqueue time, so the dead-letter queue must keep
# messages longer than the events queue does: 14 days, the most SQS allows.
DEAD_LETTER_RETENTION_SECONDS = 1_209_600

POLICY_VERSION = "2012-10-17"
# The statement of the events queue's policy that s3meta owns; others are left alone.
POLICY_STATEMENT_ID = "s3meta-s3-notifications"
S3_SERVICE_PRINCIPAL = "s3.amazonaws.com"

_DESTINATIONS = {
    "TopicConfigurations": ("TopicArn", "topic"),
    "QueueConfigurations": ("QueueArn", "queue"),
    "LambdaFunctionConfigurations": ("LambdaFunctionArn", "Lambda function"),
}
# Everything PutBucketNotificationConfiguration takes; the rest of Get's response is metadata.
_CONFIGURATION_KEYS = (*_DESTINATIONS, "EventBridgeConfiguration")


# ARNs ----------------------------------------------------------------------------------------


def partition(region: str) -> str:
    """The ARN partition of ``region``."""
    for prefix, name in (
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ):
        if region.startswith(prefix):
            return name
    return "aws"


def queue_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:{partition(region)}:sqs:{region}:{account_id}:{name}"


def secret_arn(region: str, account_id: str, secret: str) -> str:
    """The ARN of a Secrets Manager secret given by ARN or by name.

    Secrets Manager ends a secret's ARN with six random characters after its name, which
    IAM matches with ``??????``.
    """
    if secret.startswith("arn:"):
        return secret
    return f"arn:{partition(region)}:secretsmanager:{region}:{account_id}:secret:{secret}-??????"


def bucket_arn(region: str, bucket: str) -> str:
    return f"arn:{partition(region)}:s3:::{bucket}"


def queue_name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


# Key filters and notification configurations ---------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """A notification's object key filter; empty strings mean no rule."""

    prefix: str = ""
    suffix: str = ""

    @classmethod
    def of(cls, configuration: Mapping[str, Any]) -> KeyFilter:
        """The filter of one Topic/Queue/LambdaFunction configuration (rule names any case)."""
        rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        found = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
        return cls(prefix=found.get("prefix", ""), suffix=found.get("suffix", ""))

    def rules(self) -> list[dict[str, str]]:
        rules = []
        if self.prefix:
            rules.append({"Name": "prefix", "Value": self.prefix})
        if self.suffix:
            rules.append({"Name": "suffix", "Value": self.suffix})
        return rules

    def overlaps(self, other: KeyFilter) -> bool:
        """Whether some key passes both filters: S3 refuses that for the same event types."""
        prefixes = self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        suffixes = self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix)
        return prefixes and suffixes

    def describe(self) -> str:
        parts = []
        if self.prefix:
            parts.append(f"prefix {self.prefix!r}")
        if self.suffix:
            parts.append(f"suffix {self.suffix!r}")
        return ", ".join(parts) or "every key"


def configuration_id(events_queue: str) -> str:
    """The Id of s3meta's queue configuration on a bucket."""
    return f"s3meta-{events_queue}"


def queue_configuration(arn: str, config_id: str, key_filter: KeyFilter) -> dict[str, Any]:
    """s3meta's QueueConfiguration: the events queue, our events, the key filter if any."""
    configuration: dict[str, Any] = {"Id": config_id, "QueueArn": arn, "Events": list(EVENTS)}
    rules = key_filter.rules()
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def events_overlap(first: str, second: str) -> bool:
    """Whether two S3 event types share an event (``s3:ObjectCreated:*`` covers ``…:Put``)."""

    def covers(pattern: str, name: str) -> bool:
        return pattern == name or (pattern.endswith("*") and name.startswith(pattern[:-1]))

    return covers(first, second) or covers(second, first)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another consumer's configuration that overlaps ours (same events, overlapping keys)."""

    kind: str
    config_id: str
    destination: str
    events: tuple[str, ...]
    key_filter: KeyFilter

    def describe(self) -> str:
        return (
            f"configuration {self.config_id!r} ({self.kind} {self.destination}, "
            f"{', '.join(self.events)}, {self.key_filter.describe()})"
        )


@dataclass(frozen=True, slots=True)
class NotificationPlan:
    """What to put on one bucket; ``change`` is "add", "replace" or "none"."""

    change: str
    configuration: dict[str, Any]
    ours: dict[str, Any]
    replaced: tuple[dict[str, Any], ...]
    kept: int
    conflicts: tuple[Conflict, ...]

    @property
    def changed(self) -> bool:
        return self.change != "none"


def plan_notification(
    current: Mapping[str, Any], *, queue_arn: str, events_queue: str, key_filter: KeyFilter
) -> NotificationPlan:
    """The bucket's configuration with s3meta's queue configuration added or replaced.

    ``current`` is GetBucketNotificationConfiguration's response. Configurations for other
    destinations, EventBridge's switch and other queues' configurations are kept as they are;
    configurations for our queue are replaced by exactly one of ours. ``conflicts`` lists the
    kept configurations that S3 would find overlapping with ours (only when there is a change
    to make: one S3 already accepted cannot conflict).
    """
    existing = {key: current[key] for key in _CONFIGURATION_KEYS if key in current}
    queue_configurations = list(existing.get("QueueConfigurations", []))
    ours_now = tuple(c for c in queue_configurations if c.get("QueueArn") == queue_arn)
    others: dict[str, list[dict[str, Any]]] = {
        kind: [
            dict(c)
            for c in existing.get(kind, [])
            if kind != "QueueConfigurations" or c.get("QueueArn") != queue_arn
        ]
        for kind in _DESTINATIONS
    }
    taken = {str(c.get("Id")) for configurations in others.values() for c in configurations}
    config_id = _free_id(configuration_id(events_queue), taken)
    ours = queue_configuration(queue_arn, config_id, key_filter)
    kept = sum(len(configurations) for configurations in others.values())

    if len(ours_now) == 1 and same_queue_configuration(ours_now[0], ours):
        return NotificationPlan("none", dict(existing), ours, (), kept, ())

    configuration: dict[str, Any] = {}
    for kind, configurations in others.items():
        if kind == "QueueConfigurations":
            configurations = [*configurations, ours]
        if configurations:
            configuration[kind] = configurations
    if "EventBridgeConfiguration" in existing:
        configuration["EventBridgeConfiguration"] = existing["EventBridgeConfiguration"]
    conflicts = tuple(
        conflict
        for kind, configurations in others.items()
        for other in configurations
        if (conflict := _conflict(kind, other, key_filter)) is not None
    )
    return NotificationPlan(
        change="replace" if ours_now else "add",
        configuration=configuration,
        ours=ours,
        replaced=ours_now,
        kept=kept,
        conflicts=conflicts,
    )


def same_queue_configuration(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Equal as S3 sees them: events as a set, filter rule names in any case."""
    return (
        first.get("Id") == second.get("Id")
        and first.get("QueueArn") == second.get("QueueArn")
        and set(first.get("Events", [])) == set(second.get("Events", []))
        and KeyFilter.of(first) == KeyFilter.of(second)
    )


def describe_notification_change(bucket: str, plan: NotificationPlan) -> str:
    """One line for the operator: what the put does to the bucket."""
    what = _describe_queue_configuration(plan.ours)
    if plan.replaced:
        was = "; ".join(_describe_queue_configuration(old) for old in plan.replaced)
        change = f"replace {was} with {what}"
    else:
        change = f"add {what}"
    kept = f"; keep {plan.kept} other configuration(s)" if plan.kept else ""
    return f"put notification configuration on bucket {bucket}: {change}{kept}"


def _describe_queue_configuration(configuration: Mapping[str, Any]) -> str:
    events = ", ".join(str(event) for event in configuration.get("Events", []))
    return (
        f"{configuration.get('Id', '?')} -> {queue_name_of(str(configuration.get('QueueArn')))} "
        f"({events}; {KeyFilter.of(configuration).describe()})"
    )


def _free_id(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``-3``…: S3 wants configuration Ids unique per bucket."""
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


def _conflict(kind: str, other: Mapping[str, Any], key_filter: KeyFilter) -> Conflict | None:
    events = tuple(str(event) for event in other.get("Events", []))
    if not any(events_overlap(ours, theirs) for ours in EVENTS for theirs in events):
        return None
    theirs = KeyFilter.of(other)
    if not key_filter.overlaps(theirs):
        return None
    arn_key, label = _DESTINATIONS[kind]
    return Conflict(
        kind=label,
        config_id=str(other.get("Id", "")),
        destination=str(other.get(arn_key, "")),
        events=events,
        key_filter=theirs,
    )


# Queue attributes and the events queue's policy ------------------------------------------


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


# IAM policies ----------------------------------------------------------------------------

# kombu lists the queues at start (ListQueues, which takes no resource ARN) and creates the
# task queue when it is missing, unless the transport option ``predefined_queues`` is used.
_KOMBU_SID = "KombuCreatesTheTaskQueueIfMissing"


def worker_iam_policy(
    *,
    region: str,
    buckets: Sequence[str],
    task_queue_arn: str,
    key_filter: KeyFilter = KeyFilter(),
    kms_keys: Sequence[str] = (),
    database_secret_arn: str | None = None,
    metrics_namespace: str | None = None,
) -> dict[str, Any]:
    """What ``celery -A tasks worker`` needs: read objects, consume and retry its tasks.

    ``buckets`` may be ``["*"]`` (every bucket). The object resources follow the key filter.
    s3:ListBucket is there because without it S3 answers HeadObject on a missing key with 403
    instead of 404, and the worker would record a deleted object as a failure. With
    ``database_secret_arn`` it may read that secret, with ``metrics_namespace`` put metrics
    in that CloudWatch namespace only.
    """
    pattern = f"{_iam_literal(key_filter.prefix)}*{_iam_literal(key_filter.suffix)}"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadObjectMetadataAndTags",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:GetObjectTagging",
                "s3:GetObjectVersionTagging",
            ],
            "Resource": [f"{bucket_arn(region, bucket)}/{pattern}" for bucket in buckets],
        },
        {
            "Sid": "MissingKeysAre404NotAccessDenied",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": [bucket_arn(region, bucket) for bucket in buckets],
        },
        {
            "Sid": "ConsumeAndRetryTasks",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SendMessage",
            ],
            "Resource": task_queue_arn,
        },
        *_kombu_statements(task_queue_arn),
        *_control_and_event_statements(task_queue_arn),
    ]
    if database_secret_arn:
        statements.append(
            {
                "Sid": "ReadDatabaseSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": database_secret_arn,
            }
        )
    if metrics_namespace:
        # PutMetricData has no resource: the condition is what limits it.
        statements.append(
            {
                "Sid": "PutMetricsInOwnNamespace",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
            }
        )
    if kms_keys:
        statements.append(
            {
                "Sid": "DecryptSseKmsObjects",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": list(kms_keys),
            }
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def bridge_iam_policy(
    *,
    events_queue_arn: str,
    task_queue_arn: str,
    dead_letter_queue_arn: str,
    kms_keys: Sequence[str] = (),
) -> dict[str, Any]:
    """What ``s3meta bridge`` needs: consume the events, publish tasks and dead letters."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConsumeEvents",
            "Effect": "Allow",
            "Action": [
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:ChangeMessageVisibility",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
            ],
            "Resource": events_queue_arn,
        },
        {
            "Sid": "PublishTasksAndDeadLetters",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": [task_queue_arn, dead_letter_queue_arn],
        },
        *_kombu_statements(task_queue_arn),
    ]
    if kms_keys:
        statements.append(
            {
                "Sid": "UseSseKmsQueues",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": list(kms_keys),
            }
        )
    return {"Version": POLICY_VERSION, "Statement": statements}


def _kombu_statements(task_queue_arn: str) -> list[dict[str, Any]]:
    return [
        {
            "Sid": _KOMBU_SID,
            "Effect": "Allow",
            "Action": "sqs:CreateQueue",
            "Resource": task_queue_arn,
        },
        {"Sid": "KombuListsQueues", "Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"},
    ]


def _control_and_event_statements(task_queue_arn: str) -> list[dict[str, Any]]:
    """Remote control and task events (``tasks.sqs_transport``): SNS topics that fan out to
    per-node, per-process and per-monitor queues, all under s3meta's own names."""
    sqs_prefix, _, _ = task_queue_arn.rpartition(":")
    sns_prefix = sqs_prefix.replace(":sqs:", ":sns:", 1)
    return [
        {
            "Sid": "RemoteControlAndEventQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:SendMessage",
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
                "sqs:ListQueueTags",
            ],
            "Resource": [
                f"{sqs_prefix}:*-s3meta-pidbox",
                f"{sqs_prefix}:s3meta-celeryev-*",
            ],
        },
        {
            "Sid": "RemoteControlAndEventTopics",
            "Effect": "Allow",
            "Action": [
                "sns:CreateTopic",
                "sns:Publish",
                "sns:Subscribe",
                "sns:ListSubscriptionsByTopic",
            ],
            "Resource": [f"{sns_prefix}:s3meta-pidbox", f"{sns_prefix}:s3meta-celeryev"],
        },
        {
            # Neither takes a topic ARN: Unsubscribe names a subscription, ListTopics nothing.
            "Sid": "RemoteControlAndEventSubscriptions",
            "Effect": "Allow",
            "Action": ["sns:Unsubscribe", "sns:ListTopics"],
            "Resource": "*",
        },
    ]


def _iam_literal(text: str) -> str:
    """``text`` with IAM's wildcard characters made literal (policy variables ``${*}``…)."""
    return "".join("${" + char + "}" if char in "*?$" else char for char in text)
