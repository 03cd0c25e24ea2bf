"""``s3meta setup``'s I/O: look at the queues and buckets, plan the changes, then make them.

Planning only reads (STS GetCallerIdentity, GetQueueUrl, GetQueueAttributes,
GetBucketNotificationConfiguration), so a missing bucket, a permission that is lacking or a
notification that would overlap another consumer's is reported before anything changes, and
``--dry-run`` is the plan alone. botocore's errors become ``s3meta.errors``, naming the queue
or bucket and the permission involved.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.clients import region as region_of
from s3meta.aws.errors import NO_SUCH_QUEUE, Failure, classify, describe, is_access_denied
from s3meta.aws.s3 import NoSuchBucket, check_bucket
from s3meta.config import Settings
from s3meta.domain.arns import bucket_arn, queue_arn, queue_name_of
from s3meta.domain.notifications import (
    KeyFilter,
    NotificationPlan,
    describe_notification_change,
    plan_notification,
)
from s3meta.domain.queue_policy import (
    POLICY_STATEMENT_ID,
    allowed_source_arns,
    attribute_changes,
    dead_letter_queue_attributes,
    events_queue_attributes,
    events_queue_policy,
    parse_policy,
    task_queue_attributes,
)
from s3meta.errors import (
    ConfigError,
    PermanentError,
    QueueUnavailable,
    StorageUnavailable,
    TransientError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import NotificationConfigurationTypeDef
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

# S3 cannot use the AWS managed key of SQS: notifications to a queue encrypted with it are lost.
_AWS_MANAGED_SQS_KEYS = frozenset({"alias/aws/sqs"})
_S3_PERMISSIONS = {
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}
# Right after the queue policy changes, S3 may not see it yet and refuses to validate the
# destination; these waits (about a minute in all) ride that out.
VALIDATION_RETRY_DELAYS: tuple[float, ...] = (2, 4, 8, 16, 30)


class CallerIdentity(Protocol):
    """The STS call setup makes (boto3-stubs for STS are not installed)."""

    def get_caller_identity(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Action:
    """One change: what it is for people and for ``--json``, and the call that makes it."""

    kind: str
    summary: str
    details: Mapping[str, Any]
    run: Callable[[], None] = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.kind, "summary": self.summary, **self.details}


@dataclass(frozen=True)
class SetupPlan:
    region: str
    account_id: str
    events_queue_arn: str
    task_queue_arn: str
    dead_letter_queue_arn: str
    actions: tuple[Action, ...]

    def to_json(self, *, dry_run: bool) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "changed": bool(self.actions) and not dry_run,
            "region": self.region,
            "account_id": self.account_id,
            "queues": {
                "events": self.events_queue_arn,
                "tasks": self.task_queue_arn,
                "dead_letters": self.dead_letter_queue_arn,
            },
            "actions": [action.to_json() for action in self.actions],
        }


@dataclass
class _Queue:
    name: str
    arn: str
    url: str | None
    attributes: dict[str, str]


class Setup:
    """Plans and makes the changes; ``sleep`` and ``retry_delays`` are there for tests."""

    def __init__(
        self,
        settings: Settings,
        *,
        sqs: SQSClient,
        s3: S3Client,
        sts: CallerIdentity,
        sleep: Callable[[float], None] = time.sleep,
        retry_delays: Sequence[float] = VALIDATION_RETRY_DELAYS,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._s3 = s3
        self._sts = sts
        self._sleep = sleep
        self._retry_delays = tuple(retry_delays)

    def plan(
        self, buckets: Sequence[str], key_filter: KeyFilter, *, create_buckets: bool = False
    ) -> SetupPlan:
        """Every change needed; reads only. Raises ``S3MetaError`` on what would fail.

        With ``create_buckets``, a bucket that does not exist is created (in the region of
        the settings) instead of being an error: for a local stand-in or a new deployment.
        """
        settings = self._settings
        _check_queue_names(settings)
        region = region_of(settings)
        account_id = self._account_id()
        dead_letters = self._observe(settings.dead_letter_queue, region, account_id)
        events = self._observe(settings.events_queue, region, account_id)
        tasks = self._observe(settings.task_queue, region, account_id)
        if events.attributes.get("KmsMasterKeyId", "").lower() in _AWS_MANAGED_SQS_KEYS:
            raise PermanentError(
                f"queue {events.name} is encrypted with the AWS managed key alias/aws/sqs, which "
                "S3 cannot use to send notifications: use SSE-SQS or a customer managed key "
                "whose key policy lets s3.amazonaws.com use it"
            )
        missing = [b for b in buckets if create_buckets and not self._bucket_exists(b)]
        current = {
            bucket: {} if bucket in missing else self._notification_configuration(bucket)
            for bucket in buckets
        }

        policy = self._events_policy(events, [bucket_arn(region, b) for b in buckets], account_id)
        actions = [
            *self._queue_actions(dead_letters, dead_letter_queue_attributes()),
            *self._queue_actions(
                events, events_queue_attributes(dead_letter_arn=dead_letters.arn, policy=policy)
            ),
            *self._queue_actions(tasks, task_queue_attributes(settings.visibility_timeout)),
            *(self._create_bucket_action(bucket, region) for bucket in missing),
        ]
        # S3 checks the queue policy when the configuration is put; a fresh one may lag.
        policy_is_new = events.url is None or "Policy" in attribute_changes(
            events.attributes, {"Policy": policy}
        )
        for bucket, configuration in current.items():
            plan = plan_notification(
                configuration,
                queue_arn=events.arn,
                events_queue=events.name,
                key_filter=key_filter,
            )
            if plan.conflicts:
                overlapping = "; ".join(conflict.describe() for conflict in plan.conflicts)
                raise PermanentError(
                    f"bucket {bucket}: s3meta's notification ({', '.join(plan.ours['Events'])}; "
                    f"{key_filter.describe()}) would overlap {overlapping}; S3 refuses "
                    "overlapping key filters for the same event types: choose a --prefix or "
                    "--suffix that does not overlap, or change that configuration"
                )
            if plan.changed:
                actions.append(self._notification_action(bucket, plan, retry=policy_is_new))
        return SetupPlan(
            region=region,
            account_id=account_id,
            events_queue_arn=events.arn,
            task_queue_arn=tasks.arn,
            dead_letter_queue_arn=dead_letters.arn,
            actions=tuple(actions),
        )

    def apply(self, plan: SetupPlan, done: Callable[[Action], None] | None = None) -> None:
        """Make the planned changes in order; ``done`` hears of each one made."""
        for action in plan.actions:
            action.run()
            if done is not None:
                done(action)

    # Reading ------------------------------------------------------------------------------

    def _account_id(self) -> str:
        try:
            identity = self._sts.get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            message = (
                f"cannot tell which AWS account this is (STS GetCallerIdentity): {describe(exc)}"
            )
            if classify(exc) is Failure.TRANSIENT:
                raise TransientError(message) from exc
            raise PermanentError(message) from exc
        return str(identity["Account"])

    def _observe(self, name: str, region: str, account_id: str) -> _Queue:
        try:
            with _sqs_errors("GetQueueUrl", name):
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except _QueueMissing:
            return _Queue(name, queue_arn(region, account_id, name), None, {})
        all_attributes: list[QueueAttributeNameType] = ["All"]
        with _sqs_errors("GetQueueAttributes", name):
            response = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=all_attributes)
        attributes = {str(key): str(value) for key, value in response["Attributes"].items()}
        arn = attributes.get("QueueArn") or queue_arn(region, account_id, name)
        return _Queue(name, arn, url, attributes)

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            check_bucket(self._s3, bucket)
        except NoSuchBucket:
            return False
        return True

    def _notification_configuration(self, bucket: str) -> dict[str, Any]:
        with _s3_errors("GetBucketNotificationConfiguration", bucket):
            response = self._s3.get_bucket_notification_configuration(Bucket=bucket)
        return dict(response)

    @staticmethod
    def _events_policy(events: _Queue, bucket_arns: list[str], account_id: str) -> str:
        try:
            return events_queue_policy(
                events.attributes.get("Policy"),
                queue_arn=events.arn,
                bucket_arns=bucket_arns,
                account_id=account_id,
            )
        except ValueError as exc:
            raise PermanentError(f"queue {events.name}: {exc}") from exc

    # Planning -----------------------------------------------------------------------------

    def _queue_actions(self, queue: _Queue, desired: dict[str, str]) -> list[Action]:
        if queue.url is None:
            described = ", ".join(
                _describe_attribute(name, value) for name, value in desired.items()
            )
            return [
                Action(
                    kind="create_queue",
                    summary=f"create queue {queue.name} ({described})",
                    details={
                        "queue": queue.name,
                        "arn": queue.arn,
                        "attributes": {n: _attribute_json(n, v) for n, v in desired.items()},
                    },
                    run=lambda: self._create_queue(queue, desired),
                )
            ]
        return [
            Action(
                kind="set_queue_attribute",
                summary=f"set attribute {name} on {queue.name}: "
                + _describe_change(name, queue.attributes.get(name), value),
                details={
                    "queue": queue.name,
                    "attribute": name,
                    "from": _attribute_json(name, queue.attributes.get(name)),
                    "to": _attribute_json(name, value),
                },
                run=_bind(self._set_attribute, queue, name, value),
            )
            for name, value in attribute_changes(queue.attributes, desired).items()
        ]

    def _create_bucket_action(self, bucket: str, region: str) -> Action:
        return Action(
            kind="create_bucket",
            summary=f"create bucket {bucket} in {region}",
            details={"bucket": bucket, "region": region},
            run=lambda: self._create_bucket(bucket, region),
        )

    def _notification_action(self, bucket: str, plan: NotificationPlan, *, retry: bool) -> Action:
        return Action(
            kind="put_bucket_notification_configuration",
            summary=describe_notification_change(bucket, plan),
            details={
                "bucket": bucket,
                "change": plan.change,
                "configuration": plan.ours,
                "replaced": list(plan.replaced),
                "kept": plan.kept,
            },
            run=lambda: self._put_notification(bucket, plan.configuration, retry=retry),
        )

    # Writing ------------------------------------------------------------------------------

    def _create_queue(self, queue: _Queue, attributes: dict[str, str]) -> None:
        create: dict[str, str] = dict(attributes)
        if queue.name.endswith(".fifo"):
            create["FifoQueue"] = "true"
        with _sqs_errors("CreateQueue", queue.name):
            url = self._sqs.create_queue(
                QueueName=queue.name, Attributes=cast("dict[QueueAttributeNameType, str]", create)
            )["QueueUrl"]
        with _sqs_errors("GetQueueAttributes", queue.name):
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        if arn != queue.arn:
            # What was planned after it (a redrive policy, a notification) named the other ARN.
            raise PermanentError(
                f"queue {queue.name} was created as {arn}, not {queue.arn} as planned; "
                "run `s3meta setup` again"
            )
        queue.url = url

    def _create_bucket(self, bucket: str, region: str) -> None:
        with _s3_errors("CreateBucket", bucket):
            if region == "us-east-1":
                # us-east-1 refuses a location constraint naming itself.
                self._s3.create_bucket(Bucket=bucket)
            else:
                self._s3.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", region)
                    },
                )

    def _set_attribute(self, queue: _Queue, name: str, value: str) -> None:
        assert queue.url is not None
        with _sqs_errors("SetQueueAttributes", queue.name):
            self._sqs.set_queue_attributes(
                QueueUrl=queue.url,
                Attributes=cast("dict[QueueAttributeNameType, str]", {name: value}),
            )

    def _put_notification(self, bucket: str, configuration: dict[str, Any], *, retry: bool) -> None:
        delays = iter(self._retry_delays if retry else ())
        while True:
            try:
                with _s3_errors("PutBucketNotificationConfiguration", bucket):
                    self._s3.put_bucket_notification_configuration(
                        Bucket=bucket,
                        NotificationConfiguration=cast(
                            "NotificationConfigurationTypeDef", configuration
                        ),
                    )
                return
            except _DestinationNotValidated:
                delay = next(delays, None)
                if delay is None:
                    raise
                self._sleep(delay)


def _check_queue_names(settings: Settings) -> None:
    names = {
        "S3META_EVENTS_QUEUE": settings.events_queue,
        "S3META_TASK_QUEUE": settings.task_queue,
        "S3META_DEAD_LETTER_QUEUE": settings.dead_letter_queue,
    }
    for variable in ("S3META_EVENTS_QUEUE", "S3META_DEAD_LETTER_QUEUE"):
        if names[variable].endswith(".fifo"):
            raise ConfigError(
                f"{variable}={names[variable]!r}: S3 event notifications cannot go to a FIFO queue"
            )
    variables = list(names)
    for index, first in enumerate(variables):
        for second in variables[index + 1 :]:
            if names[first] == names[second]:
                raise ConfigError(f"{first} and {second} name the same queue {names[first]!r}")


# Presenting ---------------------------------------------------------------------------------


def _bind(method: Callable[[_Queue, str, str], None], *args: Any) -> Callable[[], None]:
    return lambda: method(*args)


def _attribute_json(name: str, value: str | None) -> Any:
    """An attribute for ``--json``: policies as objects, the rest as SQS gives them."""
    if value is not None and name in {"Policy", "RedrivePolicy"}:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _describe_attribute(name: str, value: str) -> str:
    if name == "RedrivePolicy":
        redrive = json.loads(value)
        return (
            f"RedrivePolicy: to {queue_name_of(str(redrive['deadLetterTargetArn']))} "
            f"after {redrive['maxReceiveCount']} receives"
        )
    if name == "Policy":
        return "Policy: " + _describe_policy(value)
    return f"{name}={value}"


def _describe_change(name: str, current: str | None, value: str) -> str:
    if name in {"Policy", "RedrivePolicy"}:
        return _describe_attribute(name, value).split(": ", 1)[1]
    return f"{current if current is not None else '(unset)'} -> {value}"


def _describe_policy(value: str) -> str:
    """One line about s3meta's statement in a queue policy."""
    document = parse_policy(value)
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        if isinstance(statement, Mapping) and statement.get("Sid") == POLICY_STATEMENT_ID:
            buckets = [arn.rsplit(":", 1)[-1] for arn in allowed_source_arns(statement)]
            account = statement.get("Condition", {}).get("StringEquals", {})
            return (
                f"allow s3.amazonaws.com to SendMessage for bucket(s) {', '.join(buckets)} "
                f"of account {account.get('aws:SourceAccount', '?')}"
            )
    return "set"  # pragma: no cover - the policy always holds s3meta's statement


# Errors -------------------------------------------------------------------------------------


class _QueueMissing(Exception):
    """GetQueueUrl found no queue: setup creates it."""


class _DestinationNotValidated(PermanentError):
    """S3 could not validate the destination: maybe the queue policy has not propagated."""


@contextmanager
def _sqs_errors(operation: str, queue: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, NO_SUCH_QUEUE)
        if failure is Failure.NOT_FOUND and operation == "GetQueueUrl":
            raise _QueueMissing(queue) from exc
        if failure is Failure.TRANSIENT:
            raise QueueUnavailable(f"SQS {operation} on queue {queue}: {describe(exc)}") from exc
        if is_access_denied(exc):
            raise PermanentError(
                f"access denied: SQS {operation} on queue {queue} needs sqs:{operation} "
                f"({describe(exc)})"
            ) from exc
        raise PermanentError(f"SQS {operation} on queue {queue}: {describe(exc)}") from exc


@contextmanager
def _s3_errors(operation: str, bucket: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, frozenset({"NoSuchBucket"}))
        if failure is Failure.NOT_FOUND:
            raise PermanentError(f"bucket {bucket} does not exist (NoSuchBucket)") from exc
        if failure is Failure.TRANSIENT:
            raise StorageUnavailable(f"bucket {bucket}: {operation}: {describe(exc)}") from exc
        if is_access_denied(exc):
            needs = _S3_PERMISSIONS.get(operation, f"s3:{operation}")
            raise PermanentError(
                f"access denied: {operation} on bucket {bucket} needs {needs} ({describe(exc)})"
            ) from exc
        if operation.startswith("Put") and "validate" in describe(exc).lower():
            raise _DestinationNotValidated(
                f"bucket {bucket}: S3 could not validate the events queue as a destination "
                f"({describe(exc)}); check that the queue is in the bucket's region and that its "
                "policy lets s3.amazonaws.com send to it"
            ) from exc
        raise PermanentError(f"bucket {bucket}: S3 refused {operation}: {describe(exc)}") from exc
