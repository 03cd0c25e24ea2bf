"""ARNs of the AWS resources s3meta names, in the region's partition. Pure: no I/O."""

from __future__ import annotations


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
    """The queue name at the end of an SQS ARN (``arn:aws:sqs:region:account:name``)."""
    return arn.rsplit(":", 1)[-1]
