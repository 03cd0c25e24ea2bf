"""boto3 clients for ``Settings``, and what kombu needs of boto3's configuration.

boto3 resolves endpoints, retries and credentials itself: ``AWS_ENDPOINT_URL`` and the
per-service ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SQS``…, ``AWS_MAX_ATTEMPTS``,
``AWS_RETRY_MODE`` and the config file's equivalents. The clients leave all of that to boto3,
and add only what s3meta's settings know and boto3 does not: values from the ``.env`` file or
given in code, ``AWS_REGION`` (botocore reads only ``AWS_DEFAULT_REGION``), a region when none
is configured, and a retry budget per client when the user set none.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import boto3.session
import botocore.session
from botocore.config import Config

from s3meta.config import Settings
from s3meta.errors import ConfigError

if TYPE_CHECKING:
    from botocore.config import _RetryDict
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Where no region is configured anywhere (S3's global endpoint answers there).
FALLBACK_REGION = "us-east-1"


class _Session:
    """A boto3 session on the settings' credentials if they hold any, else boto3's chain."""

    def __init__(self, settings: Settings) -> None:
        explicit = settings.boto3_credentials()
        self.settings = settings
        self.core = botocore.session.get_session()
        self.boto3 = boto3.session.Session(
            aws_access_key_id=explicit.get("aws_access_key_id"),
            aws_secret_access_key=explicit.get("aws_secret_access_key"),
            aws_session_token=explicit.get("aws_session_token"),
            botocore_session=self.core,
        )

    def client(self, service: str, config: Config) -> Any:
        return self.boto3.client(
            service,  # type: ignore[call-overload]
            region_name=_region(self.settings, self.boto3),
            endpoint_url=endpoint_override(self.settings, service),
            config=config,
        )

    def retries(self, max_attempts: int) -> _RetryDict:
        """``max_attempts`` attempts unless ``AWS_MAX_ATTEMPTS`` (or the config file) says.

        Nothing else: an explicit ``mode`` would override ``AWS_RETRY_MODE``, and botocore's
        own default mode is already "standard".
        """
        if self.core.get_config_variable("max_attempts") is not None:
            return {}
        return {"total_max_attempts": max_attempts}


def endpoint_override(settings: Settings, service: str) -> str | None:
    """The endpoint to hand boto3 for ``service``: only one the settings hold and the process
    environment does not (from the ``.env`` file, or given in code).

    Otherwise None, and boto3 resolves the endpoint itself, each service's own variable first.
    """
    candidates = [(settings.s3_endpoint_url, "AWS_ENDPOINT_URL_S3")] if service == "s3" else []
    candidates.append((settings.aws_endpoint_url, "AWS_ENDPOINT_URL"))
    for value, variable in candidates:
        if value is not None:
            return None if value == os.environ.get(variable) else value
    return None


def region(settings: Settings) -> str:
    """The AWS region: ``AWS_REGION`` or ``AWS_DEFAULT_REGION``, else boto3's configured one
    (the config file's), else us-east-1."""
    return _region(settings, boto3.session.Session())


def _region(settings: Settings, session: boto3.session.Session) -> str:
    return settings.aws_region or session.region_name or FALLBACK_REGION


def broker_url(settings: Settings) -> str:
    """Celery's broker URL: ``S3META_BROKER_URL``, else derived from ``AWS_ENDPOINT_URL``.

    kombu's SQS transport takes no endpoint option: a local endpoint is the URL's host, with
    the credentials in it (the settings', else boto3's chain's). Without an endpoint, plain
    ``sqs://`` lets kombu ask boto3.
    """
    if settings.broker_url:
        return settings.broker_url
    if not settings.aws_endpoint_url:
        return "sqs://"
    endpoint = urlsplit(settings.aws_endpoint_url)
    key, secret = _credentials(settings)
    host = endpoint.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = f":{endpoint.port}" if endpoint.port else ""
    return f"sqs://{quote(key, safe='')}:{quote(secret, safe='')}@{host}{port}"


def _credentials(settings: Settings) -> tuple[str, str]:
    """Access key and secret: from the settings, else from boto3's credential chain."""
    explicit = settings.boto3_credentials()
    if explicit:
        return explicit["aws_access_key_id"], explicit["aws_secret_access_key"]
    found = boto3.session.Session().get_credentials()
    if found is None:
        raise ConfigError(
            "AWS_ENDPOINT_URL is set but no AWS credentials were found for the broker URL; "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or S3META_BROKER_URL"
        )
    frozen = found.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise ConfigError("the AWS credentials found have no access key or secret key")
    return frozen.access_key, frozen.secret_key


def s3_client(settings: Settings) -> S3Client:
    """An S3 client: ``S3META_S3_MAX_ATTEMPTS`` quick retries inside one task attempt."""
    session = _Session(settings)
    retries = session.retries(settings.s3_max_attempts)
    client: S3Client = session.client(
        "s3", Config(retries=retries, connect_timeout=5, read_timeout=30)
    )
    return client


def sqs_client(settings: Settings) -> SQSClient:
    """An SQS client for the events and dead-letter queues."""
    client: SQSClient = _messaging_client(settings, "sqs")
    return client


def sns_client(settings: Settings) -> Any:
    """An SNS client (the topics that carry Celery's remote control and events)."""
    return _messaging_client(settings, "sns")


def sts_client(settings: Settings) -> Any:
    """An STS client (``s3meta setup`` asks it for the account id)."""
    return _messaging_client(settings, "sts")


def _messaging_client(settings: Settings, service: str) -> Any:
    session = _Session(settings)
    return session.client(service, Config(retries=session.retries(5)))


def cloudwatch_client(settings: Settings) -> CloudWatchClient:
    """A CloudWatch client for the metrics, with short timeouts: a worker flushes its last
    batch while shutting down, and an unreachable endpoint must not hold that up long."""
    session = _Session(settings)
    config = Config(retries=session.retries(2), connect_timeout=3, read_timeout=5)
    client: CloudWatchClient = session.client("cloudwatch", config)
    return client


def secretsmanager_client(settings: Settings) -> Any:
    """A Secrets Manager client: few, quick attempts, as it is read once at start."""
    session = _Session(settings)
    config = Config(retries=session.retries(3), connect_timeout=5, read_timeout=10)
    return session.client("secretsmanager", config)


def rds_client(settings: Settings) -> Any:
    """An RDS client: it only signs IAM authentication tokens, locally (no request is sent)."""
    return _messaging_client(settings, "rds")
