"""Settings: every knob s3meta has, read from the environment (and an optional ``.env``).

Parsing only: nothing here calls AWS or fills the log masking. What needs I/O to complete a
setting (the database secret, boto3's region and credentials) is done by the processes that
need it (``s3meta.composition``, ``s3meta.aws.clients``). Other tools rely on the variable
names: they are a contract.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from s3meta.domain.changes import parse_target
from s3meta.domain.invocations import DEFAULT_STOP_MARGIN_MS
from s3meta.domain.totals import MAX_DEPTH, MAX_SHARDS
from s3meta.errors import ConfigError
from s3meta.masking import mask_url

ENV_PREFIX = "S3META_"
ENV_FILE = ".env"
# S3META_ variables that are not settings: click options (`s3meta setup`), the deployment
# files' (systemd units, docker-compose.yml), and the test suite's own S3META_TEST_*.
OTHER_VARIABLES = frozenset(
    {
        "S3META_BUCKETS",
        "S3META_CREATE_BUCKETS",
        "S3META_WORKER_CONCURRENCY",
        "S3META_BRIDGE_CONCURRENCY",
        "S3META_API_HOST",
        "S3META_IMAGE",
        "S3META_MOTO_IMAGE",
    }
)
TEST_PREFIX = "S3META_TEST_"
DEFAULT_DATABASE_URL = "sqlite:///s3meta.db"

# SQS: 1-80 characters of alphanumerics, hyphens and underscores; FIFO names end in ".fifo".
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo|[A-Za-z0-9_-]{1,80}")
_BROKER_SCHEMES = frozenset({"sqs", "memory", "amqp", "pyamqp", "redis", "rediss", "filesystem"})
_DATABASE_BACKENDS = frozenset({"sqlite", "mysql", "mariadb", "postgresql"})
# Python module of a database driver -> the package that provides it.
_DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}
_URL_FIELDS = frozenset(
    {"database_url", "database_read_url", "broker_url", "result_backend", "cache_url"}
)
_CACHE_SCHEMES = frozenset({"redis", "rediss"})

# Fields whose environment variable is not simply S3META_<NAME>.
_AWS_ENDPOINT = AliasChoices("AWS_ENDPOINT_URL", "aws_endpoint_url")
_S3_ENDPOINT = AliasChoices("AWS_ENDPOINT_URL_S3", "s3_endpoint_url")
_REGION = AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "aws_region")
_ACCESS_KEY = AliasChoices("AWS_ACCESS_KEY_ID", "aws_access_key_id")
_SECRET_KEY = AliasChoices("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key")
_SESSION_TOKEN = AliasChoices("AWS_SESSION_TOKEN", "aws_session_token")

Seconds = Annotated[int, Field(gt=0)]


class HealthSettings(BaseSettings):
    """What ``s3meta health`` reads, alone: it runs every few seconds, and checking the other
    settings would import SQLAlchemy and the database driver each time."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        # An empty variable means "not set": compose files and unit files can name a variable
        # for every knob and leave the ones not used empty.
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # Long-running processes (worker, bridge) touch this file while they work; `s3meta
    # health` reads its age (container and systemd health checks). Unset: no file.
    health_file: Path | None = None


class Settings(HealthSettings):
    """s3meta's configuration; field ``x`` comes from ``S3META_X`` unless noted."""

    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    result_backend: str | None = None
    events_queue: str = "s3meta-events"
    task_queue: str = "s3meta-tasks"
    dead_letter_queue: str = "s3meta-events-dlq"

    aws_endpoint_url: str | None = Field(default=None, validation_alias=_AWS_ENDPOINT)
    s3_endpoint_url: str | None = Field(default=None, validation_alias=_S3_ENDPOINT)
    aws_region: str | None = Field(default=None, validation_alias=_REGION)
    # Read here too so that a .env file can hold them; otherwise boto3's chain finds them.
    aws_access_key_id: str | None = Field(default=None, validation_alias=_ACCESS_KEY)
    aws_secret_access_key: SecretStr | None = Field(default=None, validation_alias=_SECRET_KEY)
    aws_session_token: SecretStr | None = Field(default=None, validation_alias=_SESSION_TOKEN)

    # 10: a task whose every attempt meets a 60-120 s database failover still outlasts it
    # (README, Reliability); 8 ran out within 60 s for 0.3 % of such tasks.
    max_retries: int = Field(default=10, ge=0, le=100)
    retry_backoff: Seconds = 2
    retry_backoff_max: Seconds = 600
    task_time_limit: Seconds = 300
    visibility_timeout: Seconds = 1800
    worker_prefetch_multiplier: int = Field(default=4, ge=1, le=100)
    # kombu also waits this long whenever the prefetch window is full, not only after an
    # empty poll: at its default of 1 s a worker idles once it has fetched its window.
    # Long polling already spares SQS requests on an idle queue.
    broker_polling_interval: float = Field(default=0.1, gt=0, le=60)
    # A worker deletes acknowledged task messages ten to a DeleteMessageBatch, each waiting at
    # most this long for others (and all sent when it stops); 0: one DeleteMessage per task
    # at once, as kombu does. A worker killed with deletes pending only sees those tasks
    # again after the visibility timeout.
    ack_batch_delay: float = Field(default=1.0, ge=0, le=60)
    # A stopping worker reads its task queue's long poll still in flight for at most this
    # long, and makes what it got visible again. A busy queue's poll answers at once; an
    # idle queue's poll abandoned after this hides any message reaching it in its last
    # seconds for the visibility timeout. 0: not read at all.
    stop_receive_wait: float = Field(default=1.0, ge=0, le=20)
    # botocore's own quick retries inside one attempt; Celery retries beyond that.
    s3_max_attempts: int = Field(default=3, ge=1, le=10)
    # S3 sends only ObjectCreated:* for an upload with tags (no ObjectTagging event), so tags
    # are read by every task that finds an object HeadObject counts tags on: one
    # GetObjectTagging each (s3:GetObjectTagging, plus s3:GetObjectVersionTagging on versioned
    # buckets). False reads none, not even for ObjectTagging:* events.
    fetch_tags: bool = True
    # Celery task events for monitors (Flower, `celery events`), as `worker -E` does. Each
    # event is one SNS publish plus one SQS message per running monitor; a task emits 3-4
    # (received, started, then succeeded, failed or retried), and a worker with events on
    # also sends a heartbeat event every 2 s. Off: nothing is published.
    task_events: bool = False

    # An AWS Secrets Manager secret (ARN or name) holding the database credentials as RDS
    # stores them (JSON with "username" and "password"); they fill in S3META_DATABASE_URL's,
    # so the password is in no file, image or environment.
    database_secret_arn: str | None = None
    # "text" for people, "json" for log pipelines: one JSON object per line, with the task
    # id, bucket and key on every line logged while a task runs.
    log_format: Literal["text", "json"] = "text"
    # CloudWatch metrics (objects indexed, failures, retries, event-to-row lag) go to this
    # namespace, sent in batches every metrics_interval seconds; unset: none are sent.
    cloudwatch_namespace: str | None = Field(default=None, min_length=1, max_length=255)
    metrics_interval: float = Field(default=60, gt=0, le=3600)
    # RDS IAM authentication: each new database connection signs in with a fresh token
    # (rds:GenerateDBAuthToken, valid 15 minutes, signed with the process's own AWS
    # credentials) for S3META_DATABASE_URL's user; the URL then holds no password. TLS is
    # required by RDS for it: give the CA in the URL (``?ssl_ca=/path/to/global-bundle.pem``).
    database_iam_auth: bool = False
    # Lambda: the handler takes no new record once the invocation has this much time left
    # (ms), and reports the rest for redelivery: one record's indexing must fit in it.
    lambda_stop_margin_ms: int = Field(default=DEFAULT_STOP_MARGIN_MS, ge=0, le=900_000)

    # The change feed: each applied change (journal entry) is published, at least once and in
    # commit order per key, to this SNS topic (ARN) or SQS queue (ARN, URL or name) by
    # `s3meta relay`, from an outbox written with the entry. Unset: no outbox rows, no feed.
    change_topic: str | None = None

    # A read replica (RDS read replica): `s3meta serve`, `show`, `list` and `stats` read
    # there; writes never go there. Unset: reads go to S3META_DATABASE_URL. The secret of
    # S3META_DATABASE_SECRET_ARN completes its credentials too.
    database_read_url: str | None = None
    # A key read falls back to the primary when the replica is this many seconds behind.
    replica_max_lag_seconds: float = Field(default=30, ge=0, le=86_400)
    # Redis (ElastiCache; rediss:// for in-transit encryption): workers write each committed
    # record through, `s3meta serve` reads through it. Unset: no cache.
    cache_url: str | None = None
    # An entry younger than this answers a key lookup without the database.
    cache_ttl_seconds: float = Field(default=60, gt=0, le=86_400)
    # How long Redis keeps an entry: what the API can still answer, marked stale, while the
    # database is unreachable.
    cache_keep_seconds: int = Field(default=7 * 86_400, gt=0)
    cache_prefix: str = Field(default="s3meta:", max_length=64)

    # Prefix totals (`s3meta du`): kept this many levels below each bucket's root, on this
    # delimiter, each in this many shards that writers of different keys spread over. After
    # changing depth or delimiter, `s3meta reconcile --totals` recounts.
    totals_depth: int = Field(default=3, ge=0, le=MAX_DEPTH)
    totals_delimiter: str = Field(default="/", min_length=1, max_length=8)
    totals_shards: int = Field(default=16, ge=1, le=MAX_SHARDS)

    # `s3meta serve`: the bearer token every request must carry, or a Secrets Manager secret
    # (ARN or name) whose SecretString is the token.
    api_token: SecretStr | None = None
    api_token_secret_arn: str | None = None
    # Objects per page of GET /objects: the default and the most a request may ask.
    api_page_size: int = Field(default=100, ge=1, le=1000)
    api_max_page_size: int = Field(default=1000, ge=1, le=10_000)
    # Rows of the (bucket, key) index a page with unindexed filters may read.
    api_scan_limit: int = Field(default=5000, ge=1, le=1_000_000)
    # Requests per second each client (address) may make, with bursts of twice that.
    api_rate_limit: float = Field(default=50, gt=0, le=100_000)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        check_database_url(value)
        return value

    @field_validator("database_read_url")
    @classmethod
    def _check_database_read_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_database_url(value)
        return value

    @field_validator("change_topic")
    @classmethod
    def _check_change_topic(cls, value: str | None) -> str | None:
        if value is not None:
            parse_target(value)
        return value

    @field_validator("cache_url")
    @classmethod
    def _check_cache_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in _CACHE_SCHEMES or not parts.hostname:
            raise ValueError("expected a redis:// or rediss:// URL with a host")
        return value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in _BROKER_SCHEMES:
            known = ", ".join(sorted(_BROKER_SCHEMES))
            raise ValueError(f"unknown broker scheme {scheme!r} (expected one of {known})")
        return value

    @field_validator("result_backend")
    @classmethod
    def _check_result_backend(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("db+"):
            raise ValueError("only the database result backend is supported: 'db+<SQLAlchemy URL>'")
        check_database_url(value.removeprefix("db+"))
        return value

    @field_validator("events_queue", "task_queue", "dead_letter_queue")
    @classmethod
    def _check_queue_name(cls, value: str) -> str:
        if not _QUEUE_NAME.fullmatch(value):
            raise ValueError("an SQS queue name is 1-80 letters, digits, '-' or '_'")
        return value

    @field_validator("aws_endpoint_url", "s3_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _check_timing(self) -> Settings:
        # An ETA retry is held unacked in the worker; if its wait plus its run outlasts the
        # visibility timeout, SQS hands the same task to another worker.
        longest_hold = self.retry_backoff_max + self.task_time_limit
        if longest_hold >= self.visibility_timeout:
            raise ValueError(
                f"S3META_RETRY_BACKOFF_MAX + S3META_TASK_TIME_LIMIT ({longest_hold} s) must be "
                f"below S3META_VISIBILITY_TIMEOUT ({self.visibility_timeout} s)"
            )
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Keeps passwords in URLs out of repr() and str(), hence out of logs and tracebacks.
        for name, value in super().__repr_args__():
            if name in _URL_FIELDS and isinstance(value, str):
                yield name, mask_url(value)
            else:
                yield name, value

    @property
    def celery_result_backend(self) -> str:
        """The result backend as configured; a worker completes the database URL's credentials
        from the secret (``s3meta.composition.result_backend``)."""
        return self.result_backend or f"db+{self.database_url}"

    def boto3_credentials(self) -> dict[str, str]:
        """Explicit credentials for boto3 clients when the settings hold them, else none."""
        if not (self.aws_access_key_id and self.aws_secret_access_key):
            return {}
        found = {
            "aws_access_key_id": self.aws_access_key_id,
            "aws_secret_access_key": self.aws_secret_access_key.get_secret_value(),
        }
        if self.aws_session_token:
            found["aws_session_token"] = self.aws_session_token.get_secret_value()
        return found

    def broker_is_secure(self) -> bool:
        if self.aws_endpoint_url:
            return urlsplit(self.aws_endpoint_url).scheme == "https"
        return True


def check_database_url(value: str) -> None:
    """Raise ``ValueError`` unless ``value`` is a SQLAlchemy URL of a supported database."""
    # Here rather than at the top: `s3meta health` and the other light commands import this
    # module and need no SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError(f"not a database URL: {exc}") from None
    if url.get_backend_name() not in _DATABASE_BACKENDS:
        known = ", ".join(sorted(_DATABASE_BACKENDS))
        raise ValueError(f"unknown database {url.get_backend_name()!r} (expected one of {known})")
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"no SQLAlchemy driver for {url.drivername!r}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(_missing_driver(url.get_backend_name(), exc.name or str(exc))) from None


def _missing_driver(backend: str, module: str) -> str:
    """What to do when the database driver a URL names is not installed."""
    if backend in {"mysql", "mariadb"}:
        return (
            f"the {module} driver is not installed; write {backend}+pymysql://…, "
            "the MySQL driver s3meta installs"
        )
    package = _DRIVER_PACKAGES.get(module, module)
    return f"the {module} driver is not installed: pip install '{package}'"


def env_var_for(field: str) -> str:
    """The environment variable that sets ``field`` (a field name, or an alias pydantic used)."""
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if not isinstance(alias, AliasChoices):
            continue
        choices = [str(choice) for choice in alias.choices]
        if field == name or field in choices:
            return field if field in choices and field.isupper() else choices[0]
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: Any) -> Settings:
    """Parse the settings afresh (``overrides`` win); validation errors become one
    ``ConfigError`` naming each variable. Processes take theirs from ``get_settings``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            if field:
                lines.append(f"{env_var_for(field)}={mask_url(str(error['input']))!r}: {message}")
            else:
                lines.append(message)
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None


def known_variables() -> frozenset[str]:
    """Every S3META_ variable s3meta reads."""
    settings = {
        f"{ENV_PREFIX}{name.upper()}"
        for name, info in Settings.model_fields.items()
        if info.validation_alias is None
    }
    return frozenset(settings | OTHER_VARIABLES)


def unknown_variable_warnings(names: Mapping[str, object]) -> list[str]:
    """One line per S3META_ name in ``names`` that s3meta does not read, with the closest."""
    known = known_variables()
    lines = []
    for name in sorted(names):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(TEST_PREFIX):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"{name} is not an s3meta setting and is ignored{hint}")
    return lines


def _warn_about_unknown_variables() -> None:
    found: dict[str, object] = dict(os.environ)
    if Path(ENV_FILE).is_file():
        found.update(dotenv_values(ENV_FILE))
    for line in unknown_variable_warnings(found):
        logging.getLogger(__name__).warning("%s", line)


@cache
def get_settings() -> Settings:
    """The process's settings, read once; each misspelt S3META_ variable gets a warning.

    The settings as written: with ``S3META_DATABASE_SECRET_ARN`` set, processes that open the
    database complete the URL with ``s3meta.composition.database_url``.
    """
    settings = load_settings()
    _warn_about_unknown_variables()
    return settings


def health_file() -> Path | None:
    """``S3META_HEALTH_FILE``, read as ``get_settings`` reads it, without the other settings."""
    return HealthSettings().health_file
