"""Least-privilege IAM policies for the worker, the bridge and the Lambda function. Pure."""

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
    statements: list[dict[str, Any]] = [
        *_read_objects_statements(region, buckets, key_filter),
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
    statements += _database_statements(database_secret_arn)
    statements += _metrics_statements(metrics_namespace)
    statements += _kms_statements("DecryptSseKmsObjects", "kms:Decrypt", kms_keys)
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
    statements += _kms_statements(
        "UseSseKmsQueues", ["kms:Decrypt", "kms:GenerateDataKey"], kms_keys
    )
    return {"Version": POLICY_VERSION, "Statement": statements}


def lambda_iam_policy(
    *,
    region: str,
    buckets: Sequence[str],
    events_queue_arn: str,
    dead_letter_queue_arn: str,
    key_filter: KeyFilter = EVERY_KEY,
    kms_keys: Sequence[str] = (),
    database_secret_arn: str | None = None,
    database_user_arn: str | None = None,
    metrics_namespace: str | None = None,
) -> dict[str, Any]:
    """What the Lambda function (``s3meta.lambda_handler``) needs beyond Lambda's own
    execution and VPC roles: read objects as the worker does, be fed the events queue by its
    event source mapping, dead-letter unusable messages, and reach the database.

    ``database_user_arn`` (``arn:aws:rds-db:…:dbuser:RESOURCE/USER``) is for RDS IAM
    authentication; ``database_secret_arn`` for a password in Secrets Manager.
    """
    statements: list[dict[str, Any]] = [
        *_read_objects_statements(region, buckets, key_filter),
        {
            # What the event source mapping calls, as the function's role.
            "Sid": "EventSourceMappingReadsEvents",
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": events_queue_arn,
        },
        {
            "Sid": "DeadLetterUnusableMessages",
            "Effect": "Allow",
            "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
            "Resource": dead_letter_queue_arn,
        },
        *_database_statements(database_secret_arn, database_user_arn),
        *_metrics_statements(metrics_namespace),
    ]
    # Objects and queues encrypted with SSE-KMS: read them, send dead letters.
    statements += _kms_statements(
        "UseSseKmsObjectsAndQueues", ["kms:Decrypt", "kms:GenerateDataKey"], kms_keys
    )
    return {"Version": POLICY_VERSION, "Statement": statements}


def database_user_arn(region: str, account: str, user: str, resource_id: str = "*") -> str:
    """The ``rds-db:connect`` resource of ``user`` on the database (or RDS Proxy) whose
    resource id is ``resource_id`` (``db-…``, ``prx-…``; any with ``*``)."""
    return f"arn:aws:rds-db:{region}:{account}:dbuser:{resource_id}/{_iam_literal(user)}"


def _read_objects_statements(
    region: str, buckets: Sequence[str], key_filter: KeyFilter
) -> list[dict[str, Any]]:
    """Read objects' metadata and tags under the key filter. s3:ListBucket is there because
    without it S3 answers HeadObject on a missing key with 403 instead of 404, and a deleted
    object would be recorded as a failure."""
    pattern = f"{_iam_literal(key_filter.prefix)}*{_iam_literal(key_filter.suffix)}"
    return [
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
    ]


def _database_statements(
    secret_arn: str | None, user_arn: str | None = None
) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    if secret_arn:
        statements.append(
            {
                "Sid": "ReadDatabaseSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret_arn,
            }
        )
    if user_arn:
        statements.append(
            {
                "Sid": "ConnectToTheDatabaseWithIamTokens",
                "Effect": "Allow",
                "Action": "rds-db:connect",
                "Resource": user_arn,
            }
        )
    return statements


def _kms_statements(
    sid: str, actions: str | list[str], kms_keys: Sequence[str]
) -> list[dict[str, Any]]:
    if not kms_keys:
        return []
    return [{"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": list(kms_keys)}]


def _metrics_statements(namespace: str | None) -> list[dict[str, Any]]:
    if not namespace:
        return []
    # PutMetricData has no resource: the condition is what limits it.
    return [
        {
            "Sid": "PutMetricsInOwnNamespace",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
        }
    ]


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
