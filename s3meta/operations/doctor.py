"""What ``s3meta doctor`` checks: the settings in effect, then each thing s3meta needs.

Every check gives one verdict; none changes anything. The settings are shown masked: URL
passwords, the AWS secret key and session token never appear.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr

from db.engine import create_engine
from db.migrations import read_schema_revision
from db.replica import NotReplicating, replica_lag
from s3meta.aws.clients import broker_url, region
from s3meta.aws.s3 import bucket_error, check_bucket
from s3meta.aws.sqs import pipeline_queues
from s3meta.config import Settings, env_var_for
from s3meta.deployment.arns import bucket_arn
from s3meta.deployment.queue_policy import POLICY_STATEMENT_ID, allowed_source_arns, parse_policy
from s3meta.domain.event_names import SUBSCRIBED
from s3meta.errors import CacheUnavailable, S3MetaError
from s3meta.masking import redact

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from s3meta.caching import GuardedCache

SETUP_HINT = "run `s3meta setup`"


class Verdict(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One thing checked: what, its verdict and one line saying why."""

    name: str
    verdict: Verdict
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.name, "verdict": str(self.verdict), "detail": self.detail}


def effective_settings(settings: Settings) -> dict[str, str]:
    """Every setting by the variable that sets it, masked; derived values included."""
    shown: dict[str, str] = {}
    for name in Settings.model_fields:
        shown[env_var_for(name)] = _shown(getattr(settings, name))
    try:
        broker = broker_url(settings)
    except S3MetaError as exc:
        broker = f"unavailable: {exc}"
    shown["S3META_BROKER_URL"] = redact(broker) + ("" if settings.broker_url else " (derived)")
    if not settings.result_backend:
        shown["S3META_RESULT_BACKEND"] = redact(settings.celery_result_backend) + " (derived)"
    if not settings.aws_region:
        shown[env_var_for("aws_region")] = f"{region(settings)} (boto3's)"
    return shown


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "***"
    return redact(str(value))


def check_database(database_url: Callable[[], str]) -> list[Check]:
    """Reachable at the URL ``database_url`` gives (completed from the secret, if one is
    set), and its schema at the migrations' head."""
    unread = Check("schema", Verdict.SKIPPED, "the database could not be read")
    try:
        url = database_url()
    except S3MetaError as exc:
        return [Check("database", Verdict.FAILED, str(exc)), unread]
    where = redact(url)
    try:
        revision = read_schema_revision(url)
    except S3MetaError as exc:
        return [Check("database", Verdict.FAILED, f"unreachable at {where}: {exc}"), unread]
    verdict = Verdict.OK if revision.at_head else Verdict.FAILED
    return [
        Check("database", Verdict.OK, f"reachable at {where}"),
        Check("schema", verdict, revision.verdict()),
    ]


def check_replica(read_url: Callable[[], str] | None) -> Check:
    """The read replica (``S3META_DATABASE_READ_URL``) is reachable and replicating; its lag."""
    name = "read replica"
    if read_url is None:
        return Check(name, Verdict.SKIPPED, "none set: reads go to the primary")
    try:
        url = read_url()
    except S3MetaError as exc:
        return Check(name, Verdict.FAILED, str(exc))
    where = redact(url)
    engine = create_engine(url)
    try:
        lag = replica_lag(engine)
    except NotReplicating as exc:
        return Check(name, Verdict.FAILED, f"{where}: {exc}")
    except S3MetaError as exc:
        return Check(name, Verdict.FAILED, f"unreachable at {where}: {exc}")
    finally:
        engine.dispose()
    return Check(name, Verdict.OK, f"{where} replicating, {lag:.0f} s behind the primary")


def check_cache(cache: GuardedCache | None, url: str | None) -> Check:
    """The record cache (``S3META_CACHE_URL``) answers."""
    name = "cache"
    if cache is None or url is None:
        return Check(name, Verdict.SKIPPED, "none set: no record cache")
    try:
        cache.cache.ping()
    except CacheUnavailable as exc:
        return Check(name, Verdict.FAILED, f"{redact(url)}: {exc}")
    return Check(name, Verdict.OK, f"answers at {redact(url)}")


def check_queues(sqs: SQSClient, settings: Settings) -> tuple[list[Check], dict[str, str]]:
    """Each of the events, task and dead-letter queues exists; the events queue's attributes."""
    checks: list[Check] = []
    events_attributes: dict[str, str] = {}
    for role, queue in pipeline_queues(sqs, settings):
        try:
            depth = queue.depth()
            if role == "events":
                events_attributes = queue.attributes()
        except S3MetaError as exc:
            checks.append(Check(f"{role} queue", Verdict.FAILED, str(exc)))
            continue
        detail = f"{queue.name} exists ({depth.total} messages)"
        checks.append(Check(f"{role} queue", Verdict.OK, detail))
    return checks, events_attributes


def check_buckets(
    s3: S3Client, buckets: Sequence[str], events_attributes: dict[str, str], region: str
) -> list[Check]:
    """Each bucket may be read and notifies the events queue, which lets it send."""
    if not buckets:
        return [Check("buckets", Verdict.SKIPPED, "none given (--bucket or S3META_BUCKETS)")]
    events_arn = events_attributes.get("QueueArn")
    allowed = _allowed_sources(events_attributes.get("Policy"))
    checks = []
    for bucket in buckets:
        name = f"bucket {bucket}"
        try:
            check_bucket(s3, bucket)
            try:
                configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
            except (ClientError, BotoCoreError) as exc:
                operation = "GetBucketNotificationConfiguration"
                raise bucket_error(exc, bucket, operation, where=f"s3://{bucket}") from exc
        except S3MetaError as exc:
            checks.append(Check(name, Verdict.FAILED, str(exc)))
            continue
        checks.append(
            _wiring(bucket, dict(configuration), events_arn, allowed, bucket_arn(region, bucket))
        )
    return checks


def _wiring(
    bucket: str,
    configuration: dict[str, Any],
    events_arn: str | None,
    allowed: list[str],
    arn: str,
) -> Check:
    name = f"bucket {bucket}"
    if events_arn is None:
        return Check(name, Verdict.FAILED, "readable; the events queue is missing")
    ours = [
        each
        for each in configuration.get("QueueConfigurations", [])
        if each.get("QueueArn") == events_arn
    ]
    covered = {event for each in ours for event in each.get("Events", [])}
    missing = [event for event in SUBSCRIBED if event not in covered]
    if missing:
        what = "no notification to the events queue" if not ours else "no " + ", ".join(missing)
        return Check(name, Verdict.FAILED, f"readable; {what}: {SETUP_HINT} --bucket {bucket}")
    if arn not in allowed:
        return Check(
            name,
            Verdict.FAILED,
            f"notifies the events queue, whose policy does not let it send: {SETUP_HINT}",
        )
    return Check(name, Verdict.OK, "readable; notifies the events queue, which lets it send")


def _allowed_sources(policy: str | None) -> list[str]:
    if not policy:
        return []
    try:
        document = parse_policy(policy)
    except ValueError:
        return []
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    return [
        arn
        for statement in statements
        if isinstance(statement, dict) and statement.get("Sid") == POLICY_STATEMENT_ID
        for arn in allowed_source_arns(statement)
    ]


def run_checks(
    settings: Settings,
    *,
    database_url: Callable[[], str],
    sqs: SQSClient,
    s3: S3Client,
    buckets: Sequence[str],
    read_url: Callable[[], str] | None = None,
    cache: GuardedCache | None = None,
) -> list[Check]:
    """Database, schema, read replica, cache, queues, then buckets, in that order."""
    checks = check_database(database_url)
    checks.append(check_replica(read_url))
    checks.append(check_cache(cache, settings.cache_url))
    queue_checks, events_attributes = check_queues(sqs, settings)
    checks += queue_checks
    checks += check_buckets(s3, buckets, events_attributes, region(settings))
    return checks
