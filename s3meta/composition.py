"""Where a process's parts are built from its settings: nothing else builds them.

The AWS clients (by ``s3meta.aws.clients``), the S3 storage, the metadata store, the worker's
metrics, and the database URL completed with the credentials of
``S3META_DATABASE_SECRET_ARN``. Reading that secret is the one call to AWS made here, and
only the processes that open the database make it (the worker, ``alembic``, the demo,
``doctor`` and the commands that read or write rows); the bridge, ``setup``, ``health`` and
Flower never read it. Nothing is cached here: ``tasks.runtime`` keeps a worker's parts, a
command builds its own once.

The Celery task publisher is ``tasks.publisher.CeleryPublisher``, built where it is used:
``tasks`` builds its parts here, so this module imports nothing of ``tasks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from s3meta.aws.clients import cloudwatch_client, s3_client, secretsmanager_client
from s3meta.aws.secrets import resolve_database_url
from s3meta.config import Settings
from s3meta.domain.metrics import Metrics, NoMetrics
from s3meta.domain.retries import RetryPolicy
from s3meta.domain.totals import TotalsRule
from s3meta.masking import register_secret, url_password

RELAY_BACKOFF_MAX = 60

if TYPE_CHECKING:
    from db.outbox import OutboxTable
    from db.store import MetadataStore, ResultRows
    from s3meta.aws.feed import FeedPublisher
    from s3meta.aws.s3 import S3Storage
    from s3meta.caching import GuardedCache
    from s3meta.indexing import Indexer


def database_url(settings: Settings) -> str:
    """``S3META_DATABASE_URL``, with the credentials of ``S3META_DATABASE_SECRET_ARN``'s secret
    (read from Secrets Manager) when that is set; from then on its password is masked in
    every log line and message. Raises ``ConfigError`` naming the variable."""
    if not settings.database_secret_arn:
        return settings.database_url
    url = resolve_database_url(settings, secretsmanager_client(settings))
    register_secret(url_password(url))
    return url


def read_database_url(settings: Settings) -> str:
    """Where reads go: ``S3META_DATABASE_READ_URL`` (a replica), completed from the secret as
    ``database_url`` is, else the primary's URL."""
    if not settings.database_read_url:
        return database_url(settings)
    return database_url(settings.model_copy(update={"database_url": settings.database_read_url}))


def cache(settings: Settings) -> GuardedCache | None:
    """The record cache at ``S3META_CACHE_URL``, its failures bypassed; None without one."""
    if not settings.cache_url:
        return None
    from s3meta.caching import GuardedCache
    from s3meta.rediscache import RedisCache

    register_secret(url_password(settings.cache_url))
    return GuardedCache(
        RedisCache(
            settings.cache_url,
            prefix=settings.cache_prefix,
            keep_seconds=settings.cache_keep_seconds,
        )
    )


def api_token(settings: Settings) -> str | None:
    """The token ``s3meta serve`` requires: ``S3META_API_TOKEN``, else the SecretString of
    ``S3META_API_TOKEN_SECRET_ARN`` (read from Secrets Manager); None if neither is set."""
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    if not settings.api_token_secret_arn:
        return None
    from s3meta.aws.secrets import read_secret_string

    token = read_secret_string(
        secretsmanager_client(settings), settings.api_token_secret_arn
    ).strip()
    register_secret(token)
    return token


def result_backend(settings: Settings, database_url: str) -> str:
    """Celery's result backend: ``S3META_RESULT_BACKEND``, else the database at ``database_url``
    (the URL ``database_url()`` completed)."""
    return settings.result_backend or f"db+{database_url}"


def storage(settings: Settings) -> S3Storage:
    """What the worker reads of S3, on its own client."""
    from s3meta.aws.s3 import S3Storage

    return S3Storage(s3_client(settings))


def store(
    database_url: str, settings: Settings | None = None, results: ResultRows | None = None
) -> MetadataStore:
    """The metadata store at ``database_url``, on a new engine (one per process), writing
    tasks' results in ``results`` (the task runner's table) when given, and the change feed's
    outbox rows when ``S3META_CHANGE_TOPIC`` is set; with ``S3META_DATABASE_IAM_AUTH`` each
    new connection signs in with a fresh RDS IAM token."""
    # The database stack only for the processes that open the database.
    from db.engine import sign_in_with, writer_engine
    from db.store import MetadataStore

    engine = writer_engine(database_url)
    if settings is not None and settings.database_iam_auth:
        from s3meta.aws.clients import rds_client, region
        from s3meta.aws.rds import auth_token_source

        tokens = auth_token_source(rds_client(settings), database_url, region(settings))
        sign_in_with(engine, tokens)
    if settings is None:
        return MetadataStore(engine, results)
    feed = settings.change_topic is not None
    return MetadataStore(engine, results, totals_rule(settings), feed=feed)


def change_feed(settings: Settings) -> tuple[OutboxTable, FeedPublisher]:
    """The relay's parts: the outbox at the database's URL, and the publisher to
    ``S3META_CHANGE_TOPIC``, checked to exist. Raises ``ConfigError`` if the topic is unset,
    ``PermanentError`` if it does not exist."""
    from db.engine import writer_engine
    from db.outbox import OutboxTable
    from s3meta.aws.clients import sns_client, sqs_client
    from s3meta.aws.feed import FeedPublisher
    from s3meta.domain.changes import TargetKind, parse_target
    from s3meta.errors import ConfigError

    if settings.change_topic is None:
        raise ConfigError("S3META_CHANGE_TOPIC is not set: there is no change feed to relay")
    target = parse_target(settings.change_topic)
    client = sns_client(settings) if target.kind is TargetKind.SNS else sqs_client(settings)
    publisher = FeedPublisher(client, target)
    publisher.check()  # at start, with the target's name, rather than in a retry loop
    outbox = OutboxTable(writer_engine(database_url(settings)))
    return outbox, publisher


def relay_retries(settings: Settings) -> RetryPolicy:
    """A relay's retries of failed rounds: the settings', each wait at most a minute (a relay
    rides out an outage, yet resumes promptly)."""
    return RetryPolicy(
        max_retries=settings.max_retries,
        backoff=settings.retry_backoff,
        backoff_max=min(settings.retry_backoff_max, RELAY_BACKOFF_MAX),
    )


def totals_rule(settings: Settings) -> TotalsRule:
    """How prefix totals are kept: ``S3META_TOTALS_DEPTH``, ``_DELIMITER``, ``_SHARDS``."""
    return TotalsRule(
        depth=settings.totals_depth,
        delimiter=settings.totals_delimiter,
        shards=settings.totals_shards,
    )


def indexer(
    settings: Settings, database_url: str, metrics: Metrics, results: ResultRows | None = None
) -> Indexer:
    """The use case that indexes one key, on S3 and the database at ``database_url``; a
    task's result goes in ``results`` with its rows when the runner gives one."""
    from s3meta.indexing import Indexer

    return Indexer(
        storage=storage(settings),
        store=store(database_url, settings, results),
        metrics=metrics,
        retries=RetryPolicy(
            max_retries=settings.max_retries,
            backoff=settings.retry_backoff,
            backoff_max=settings.retry_backoff_max,
        ),
        fetch_tags=settings.fetch_tags,
        cache=cache(settings),
    )


def metrics(settings: Settings) -> Metrics:
    """CloudWatch metrics to ``S3META_CLOUDWATCH_NAMESPACE``; without one, none."""
    if not settings.cloudwatch_namespace:
        return NoMetrics()
    from s3meta.aws.metrics import MetricsPublisher

    return MetricsPublisher(
        settings.cloudwatch_namespace,
        settings.metrics_interval,
        lambda: cloudwatch_client(settings),
    )
