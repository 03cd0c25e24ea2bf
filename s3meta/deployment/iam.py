"""Least-privilege IAM policies for the worker and the bridge. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s3meta.deployment.arns import bucket_arn
from s3meta.deployment.broker import (
    CONTROL_QUEUE_PATTERN,
    EVENT_QUEUE_PATTERN,
    EVENTS_TOPIC,
    PIDBOX_TOPIC,
)
from s3meta.deployment.notifications import EVERY_KEY, KeyFilter

POLICY_VERSION = "2012-10-17"


# kombu lists the queues at start (ListQueues, which takes no resource ARN) and creates the
# task queue when it is missing, unless the transport option ``predefined_queues`` is used.
_KOMBU_SID = "KombuCreatesTheTaskQueueIfMissing"


def worker_iam_policy(
    *,
    region: str,
    buckets: Sequence[str],
    task_queue_arn: str,
    key_filter: KeyFilter = EVERY_KEY,
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
    """Remote control and task events (``s3meta.compat.kombu``): SNS topics that fan out to
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
                f"{sqs_prefix}:{CONTROL_QUEUE_PATTERN}",
                f"{sqs_prefix}:{EVENT_QUEUE_PATTERN}",
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
            "Resource": [f"{sns_prefix}:{PIDBOX_TOPIC}", f"{sns_prefix}:{EVENTS_TOPIC}"],
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
