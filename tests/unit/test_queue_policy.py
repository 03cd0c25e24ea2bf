"""``s3meta.deployment.queue_policy``: the queues' attributes and the events queue's policy."""

from __future__ import annotations

import json
from typing import Any

from s3meta.deployment.arns import queue_arn
from s3meta.deployment.queue_policy import (
    MAX_RECEIVE_COUNT,
    POLICY_STATEMENT_ID,
    attribute_changes,
    canonical_json,
    events_queue_attributes,
    events_queue_policy,
    redrive_policy,
)

REGION = "us-east-1"
ACCOUNT = "123456789012"
EVENTS_QUEUE = "s3meta-events"
OURS = queue_arn(REGION, ACCOUNT, EVENTS_QUEUE)
OTHER_QUEUE = queue_arn(REGION, ACCOUNT, "someone-elses-queue")


def our_statement(policy: str) -> dict[str, Any]:
    statements = json.loads(policy)["Statement"]
    (statement,) = [s for s in statements if s.get("Sid") == POLICY_STATEMENT_ID]
    assert isinstance(statement, dict)
    return statement


def test_a_new_policy_lets_s3_send_from_the_buckets_of_the_account() -> None:
    policy = events_queue_policy(
        None,
        queue_arn=OURS,
        bucket_arns=["arn:aws:s3:::bucket-b", "arn:aws:s3:::bucket-a"],
        account_id=ACCOUNT,
    )

    document = json.loads(policy)
    assert document["Version"] == "2012-10-17"
    assert our_statement(policy) == {
        "Sid": POLICY_STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": OURS,
        "Condition": {
            "ArnLike": {"aws:SourceArn": ["arn:aws:s3:::bucket-a", "arn:aws:s3:::bucket-b"]},
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }


def test_the_policy_keeps_other_statements_and_buckets_already_allowed() -> None:
    sns = {
        "Sid": "sns",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": OURS,
    }
    first = events_queue_policy(
        json.dumps({"Version": "2012-10-17", "Id": "mine", "Statement": sns}),
        queue_arn=OURS,
        bucket_arns=["arn:aws:s3:::bucket-a"],
        account_id=ACCOUNT,
    )

    second = events_queue_policy(
        first, queue_arn=OURS, bucket_arns=["arn:aws:s3:::bucket-c"], account_id=ACCOUNT
    )

    document = json.loads(second)
    assert document["Id"] == "mine"
    assert document["Statement"][0] == sns
    assert len(document["Statement"]) == 2
    assert our_statement(second)["Condition"]["ArnLike"]["aws:SourceArn"] == [
        "arn:aws:s3:::bucket-a",
        "arn:aws:s3:::bucket-c",
    ]


def test_the_same_policy_again_is_no_change_even_if_sqs_rewrites_it() -> None:
    policy = events_queue_policy(
        None, queue_arn=OURS, bucket_arns=["arn:aws:s3:::bucket-a"], account_id=ACCOUNT
    )
    attributes = events_queue_attributes(dead_letter_arn=OTHER_QUEUE, policy=policy)
    # As SQS may hand it back: other spacing, a one-element list as a plain string, a
    # number as a string.
    document = json.loads(policy)
    document["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"] = "arn:aws:s3:::bucket-a"
    current = {
        "VisibilityTimeout": "300",
        "Policy": json.dumps(document, indent=1),
        "RedrivePolicy": json.dumps(
            {"maxReceiveCount": str(MAX_RECEIVE_COUNT), "deadLetterTargetArn": OTHER_QUEUE}
        ),
    }
    again = events_queue_policy(
        current["Policy"], queue_arn=OURS, bucket_arns=["arn:aws:s3:::bucket-a"], account_id=ACCOUNT
    )

    assert attribute_changes(current, attributes) == {}
    assert attribute_changes(current, {**attributes, "Policy": again}) == {}


def test_attributes_that_differ_or_are_missing_are_changes() -> None:
    desired = {
        "VisibilityTimeout": "300",
        "RedrivePolicy": redrive_policy(OTHER_QUEUE),
        "MessageRetentionPeriod": "1209600",
    }
    current = {
        "VisibilityTimeout": "30",
        "RedrivePolicy": redrive_policy(OTHER_QUEUE, max_receive_count=10),
    }

    assert attribute_changes(current, desired) == desired


def test_canonical_json_ignores_order_and_one_element_lists() -> None:
    assert canonical_json({"a": ["x", "y"], "b": ["z"]}) == canonical_json(
        {"b": "z", "a": ["y", "x"]}
    )
    assert canonical_json(["x", "y"]) != canonical_json(["x"])
