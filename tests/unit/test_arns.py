"""``s3meta.deployment.arns``: ARNs in the region's partition."""

from __future__ import annotations

import pytest

from s3meta.deployment.arns import bucket_arn, partition, queue_arn

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "aws"),
        ("eu-west-3", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_partition_of_a_region(region: str, expected: str) -> None:
    assert partition(region) == expected


def test_arns() -> None:
    assert queue_arn("eu-west-1", ACCOUNT, "q") == f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"
    assert bucket_arn("cn-north-1", "b") == "arn:aws-cn:s3:::b"
