"""``s3meta.deployment.iam``: the worker's and the bridge's least-privilege policies."""

from __future__ import annotations

from typing import Any

from s3meta.deployment.arns import queue_arn
from s3meta.deployment.iam import (
    bridge_iam_policy,
    database_user_arn,
    lambda_iam_policy,
    worker_iam_policy,
)
from s3meta.deployment.notifications import KeyFilter

REGION = "us-east-1"
ACCOUNT = "123456789012"


def actions_of(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Each action with the resources it is allowed on."""
    found: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            found.setdefault(action, set()).update(
                [resources] if isinstance(resources, str) else resources
            )
    return found


def test_worker_policy() -> None:
    tasks = queue_arn(REGION, "*", "s3meta-tasks")

    policy = worker_iam_policy(
        region=REGION, buckets=["bucket-a", "bucket-b"], task_queue_arn=tasks
    )

    assert policy["Version"] == "2012-10-17"
    assert len({s["Sid"] for s in policy["Statement"]}) == len(policy["Statement"])
    objects = {"arn:aws:s3:::bucket-a/*", "arn:aws:s3:::bucket-b/*"}
    control = {
        f"arn:aws:sqs:{REGION}:*:*-s3meta-pidbox",
        f"arn:aws:sqs:{REGION}:*:s3meta-celeryev-*",
    }
    topics = {f"arn:aws:sns:{REGION}:*:s3meta-pidbox", f"arn:aws:sns:{REGION}:*:s3meta-celeryev"}
    assert actions_of(policy) == {
        "s3:GetObject": objects,
        "s3:GetObjectVersion": objects,
        "s3:GetObjectTagging": objects,
        "s3:GetObjectVersionTagging": objects,
        "s3:ListBucket": {"arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-b"},
        "sqs:ReceiveMessage": {tasks, *control},
        "sqs:DeleteMessage": {tasks, *control},
        "sqs:ChangeMessageVisibility": {tasks},
        "sqs:GetQueueUrl": {tasks, *control},
        "sqs:GetQueueAttributes": {tasks, *control},
        "sqs:SendMessage": {tasks, *control},
        "sqs:CreateQueue": {tasks, *control},
        "sqs:ListQueues": {"*"},
        # Remote control and task events (tasks.sqs_transport), under s3meta's names only.
        "sqs:DeleteQueue": control,
        "sqs:SetQueueAttributes": control,
        "sqs:TagQueue": control,
        "sqs:ListQueueTags": control,
        "sns:CreateTopic": topics,
        "sns:Publish": topics,
        "sns:Subscribe": topics,
        "sns:ListSubscriptionsByTopic": topics,
        "sns:Unsubscribe": {"*"},
        "sns:ListTopics": {"*"},
    }


def test_worker_policy_follows_the_key_filter_and_kms_keys() -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    policy = worker_iam_policy(
        region="cn-north-1",
        buckets=["bucket-a"],
        task_queue_arn="arn:aws-cn:sqs:cn-north-1:*:t",
        key_filter=KeyFilter("in/what?*$/", ".csv"),
        kms_keys=[key],
    )

    found = actions_of(policy)
    assert found["s3:GetObject"] == {"arn:aws-cn:s3:::bucket-a/in/what${?}${*}${$}/*.csv"}
    assert found["kms:Decrypt"] == {key}


def test_worker_policy_for_every_bucket() -> None:
    tasks = queue_arn(REGION, ACCOUNT, "t")
    policy = worker_iam_policy(region=REGION, buckets=["*"], task_queue_arn=tasks)

    assert actions_of(policy)["s3:GetObject"] == {"arn:aws:s3:::*/*"}
    assert "kms:Decrypt" not in actions_of(policy)


def test_bridge_policy() -> None:
    events, tasks, dead = (queue_arn(REGION, ACCOUNT, n) for n in ("e", "t", "d"))

    policy = bridge_iam_policy(
        events_queue_arn=events, task_queue_arn=tasks, dead_letter_queue_arn=dead
    )

    assert actions_of(policy) == {
        "sqs:ReceiveMessage": {events},
        "sqs:DeleteMessage": {events},
        "sqs:ChangeMessageVisibility": {events},
        "sqs:GetQueueUrl": {events, tasks, dead},
        "sqs:GetQueueAttributes": {events},
        "sqs:SendMessage": {tasks, dead},
        "sqs:CreateQueue": {tasks},
        "sqs:ListQueues": {"*"},
    }
    with_key = bridge_iam_policy(
        events_queue_arn=events, task_queue_arn=tasks, dead_letter_queue_arn=dead, kms_keys=["k"]
    )
    assert actions_of(with_key)["kms:GenerateDataKey"] == {"k"}
    assert actions_of(with_key)["kms:Decrypt"] == {"k"}


def test_the_lambda_policy_reads_objects_takes_events_dead_letters_and_nothing_of_celery() -> None:
    events = queue_arn(REGION, ACCOUNT, "s3meta-events")
    dead_letters = queue_arn(REGION, ACCOUNT, "s3meta-events-dlq")
    user = database_user_arn(REGION, ACCOUNT, "s3meta", "prx-0123")

    policy = lambda_iam_policy(
        region=REGION,
        buckets=["uploads"],
        events_queue_arn=events,
        dead_letter_queue_arn=dead_letters,
        key_filter=KeyFilter(prefix="in/"),
        kms_keys=["arn:aws:kms:us-east-1:123456789012:key/k"],
        database_user_arn=user,
    )

    assert actions_of(policy) == {
        "s3:GetObject": {"arn:aws:s3:::uploads/in/*"},
        "s3:GetObjectVersion": {"arn:aws:s3:::uploads/in/*"},
        "s3:GetObjectTagging": {"arn:aws:s3:::uploads/in/*"},
        "s3:GetObjectVersionTagging": {"arn:aws:s3:::uploads/in/*"},
        "s3:ListBucket": {"arn:aws:s3:::uploads"},
        "sqs:ReceiveMessage": {events},
        "sqs:DeleteMessage": {events},
        "sqs:GetQueueAttributes": {events},
        "sqs:SendMessage": {dead_letters},
        "sqs:GetQueueUrl": {dead_letters},
        "rds-db:connect": {"arn:aws:rds-db:us-east-1:123456789012:dbuser:prx-0123/s3meta"},
        "kms:Decrypt": {"arn:aws:kms:us-east-1:123456789012:key/k"},
        "kms:GenerateDataKey": {"arn:aws:kms:us-east-1:123456789012:key/k"},
    }
