"""boto3 clients configured from ``Settings`` (endpoint, region, retry budget)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import boto3.session
from botocore.config import Config

from s3meta.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


def _session(settings: Settings) -> boto3.session.Session:
    """A boto3 session: the settings' credentials if they hold any, else boto3's chain."""
    explicit = settings.boto3_credentials()
    return boto3.session.Session(
        aws_access_key_id=explicit.get("aws_access_key_id"),
        aws_secret_access_key=explicit.get("aws_secret_access_key"),
        aws_session_token=explicit.get("aws_session_token"),
    )


def s3_client(settings: Settings) -> S3Client:
    """An S3 client; ``AWS_ENDPOINT_URL_S3`` wins over ``AWS_ENDPOINT_URL``, as in boto3."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
        connect_timeout=5,
        read_timeout=30,
    )
    return _session(settings).client(
        "s3",
        region_name=settings.region,
        endpoint_url=settings.s3_endpoint_url or settings.aws_endpoint_url,
        config=config,
    )


def sqs_client(settings: Settings) -> SQSClient:
    """An SQS client for the events and dead-letter queues."""
    client: SQSClient = _messaging_client(settings, "sqs")
    return client


def sns_client(settings: Settings) -> Any:
    """An SNS client (the topics that carry Celery's remote control and events)."""
    return _messaging_client(settings, "sns")


def cloudwatch_client(settings: Settings) -> CloudWatchClient:
    """A CloudWatch client for the metrics, with short timeouts: a worker flushes its last
    batch while shutting down, and an unreachable endpoint must not hold that up long."""
    client: CloudWatchClient = _session(settings).client(
        "cloudwatch",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 2},
            connect_timeout=3,
            read_timeout=5,
        ),
    )
    return client


def _messaging_client(settings: Settings, service: Literal["sqs", "sns"]) -> Any:
    return _session(settings).client(
        service,
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 5}),
    )


def secretsmanager_client(settings: Settings) -> Any:
    """A Secrets Manager client: few, quick attempts, as it is read once at start."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=10
    )
    return _session(settings).client(
        "secretsmanager",
        region_name=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        config=config,
    )
