"""``s3meta setup``: look at the queues and buckets, plan the changes, then make them.

Planning only reads (STS GetCallerIdentity, GetQueueUrl, GetQueueAttributes,
GetBucketNotificationConfiguration), so a missing bucket, a permission that is lacking or a
notification that would overlap another consumer's is reported before anything changes, and
``--dry-run`` is the plan alone. The calls are ``s3meta.aws.provision``'s; the desired state
is ``s3meta.domain``'s (``notifications``, ``queue_policy``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from s3meta.aws.clients import region as region_of
from s3meta.aws.provision import (
    CallerIdentity,
    DestinationNotValidated,
    ObservedQueue,
    Provisioner,
)
from s3meta.config import Settings
from s3meta.deployment.arns import bucket_arn, queue_name_of
from s3meta.deployment.notifications import (
    KeyFilter,
    NotificationPlan,
    describe_notification_change,
    plan_notification,
)
from s3meta.deployment.queue_policy import (
    POLICY_STATEMENT_ID,
    allowed_source_arns,
    attribute_changes,
    dead_letter_queue_attributes,
    events_queue_attributes,
    events_queue_policy,
    parse_policy,
    task_queue_attributes,
)
from s3meta.errors import ConfigError, PermanentError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# S3 cannot use the AWS managed key of SQS: notifications to a queue encrypted with it are lost.
_AWS_MANAGED_SQS_KEYS = frozenset({"alias/aws/sqs"})
# Right after the queue policy changes, S3 may not see it yet and refuses to validate the
# destination; these waits (about a minute in all) ride that out.
VALIDATION_RETRY_DELAYS: tuple[float, ...] = (2, 4, 8, 16, 30)


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
        self._aws = Provisioner(sqs=sqs, s3=s3, sts=sts)
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
        account_id = self._aws.account_id()
        dead_letters = self._aws.observe_queue(settings.dead_letter_queue, region, account_id)
        events = self._aws.observe_queue(settings.events_queue, region, account_id)
        tasks = self._aws.observe_queue(settings.task_queue, region, account_id)
        if events.attributes.get("KmsMasterKeyId", "").lower() in _AWS_MANAGED_SQS_KEYS:
            raise PermanentError(
                f"queue {events.name} is encrypted with the AWS managed key alias/aws/sqs, which "
                "S3 cannot use to send notifications: use SSE-SQS or a customer managed key "
                "whose key policy lets s3.amazonaws.com use it"
            )
        missing = [b for b in buckets if create_buckets and not self._aws.bucket_exists(b)]
        current = {
            bucket: {} if bucket in missing else self._aws.notification_configuration(bucket)
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

    @staticmethod
    def _events_policy(events: ObservedQueue, bucket_arns: list[str], account_id: str) -> str:
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

    def _queue_actions(self, queue: ObservedQueue, desired: dict[str, str]) -> list[Action]:
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
                    run=lambda: self._aws.create_queue(queue, desired),
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
                run=_bind(self._aws.set_queue_attribute, queue, name, value),
            )
            for name, value in attribute_changes(queue.attributes, desired).items()
        ]

    def _create_bucket_action(self, bucket: str, region: str) -> Action:
        return Action(
            kind="create_bucket",
            summary=f"create bucket {bucket} in {region}",
            details={"bucket": bucket, "region": region},
            run=lambda: self._aws.create_bucket(bucket, region),
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

    def _put_notification(self, bucket: str, configuration: dict[str, Any], *, retry: bool) -> None:
        delays = iter(self._retry_delays if retry else ())
        while True:
            try:
                self._aws.put_notification(bucket, configuration)
                return
            except DestinationNotValidated:
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


def _bind(method: Callable[[ObservedQueue, str, str], None], *args: Any) -> Callable[[], None]:
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
