"""``s3meta setup``'s calls to STS, SQS and S3, with botocore's errors as s3meta's.

Each error names the queue or bucket and the permission involved. What to change is decided
by ``s3meta.operations.setup``; this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import NO_SUCH_QUEUE, Failure, classify, describe, is_access_denied
from s3meta.aws.s3 import NoSuchBucket, check_bucket
from s3meta.deployment.arns import queue_arn
from s3meta.errors import PermanentError, QueueUnavailable, StorageUnavailable, TransientError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import NotificationConfigurationTypeDef
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

_S3_PERMISSIONS = {
    "GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "PutBucketNotificationConfiguration": "s3:PutBucketNotification",
}


class CallerIdentity(Protocol):
    """The STS call setup makes (boto3-stubs for STS are not installed)."""

    def get_caller_identity(self) -> Mapping[str, Any]: ...


@dataclass
class ObservedQueue:
    """A queue as setup found it: no URL if it does not exist yet."""

    name: str
    arn: str
    url: str | None
    attributes: dict[str, str]


class Provisioner:
    """The reads and writes of ``s3meta setup``, on the given clients."""

    def __init__(self, *, sqs: SQSClient, s3: S3Client, sts: CallerIdentity) -> None:
        self._sqs = sqs
        self._s3 = s3
        self._sts = sts

    def account_id(self) -> str:
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

    def observe_queue(self, name: str, region: str, account_id: str) -> ObservedQueue:
        try:
            with _sqs_errors("GetQueueUrl", name):
                url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except _QueueMissing:
            return ObservedQueue(name, queue_arn(region, account_id, name), None, {})
        all_attributes: list[QueueAttributeNameType] = ["All"]
        with _sqs_errors("GetQueueAttributes", name):
            response = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=all_attributes)
        attributes = {str(key): str(value) for key, value in response["Attributes"].items()}
        arn = attributes.get("QueueArn") or queue_arn(region, account_id, name)
        return ObservedQueue(name, arn, url, attributes)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            check_bucket(self._s3, bucket)
        except NoSuchBucket:
            return False
        return True

    def notification_configuration(self, bucket: str) -> dict[str, Any]:
        with _s3_errors("GetBucketNotificationConfiguration", bucket):
            response = self._s3.get_bucket_notification_configuration(Bucket=bucket)
        return dict(response)

    def create_queue(self, queue: ObservedQueue, attributes: dict[str, str]) -> None:
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

    def create_bucket(self, bucket: str, region: str) -> None:
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

    def set_queue_attribute(self, queue: ObservedQueue, name: str, value: str) -> None:
        assert queue.url is not None
        with _sqs_errors("SetQueueAttributes", queue.name):
            self._sqs.set_queue_attributes(
                QueueUrl=queue.url,
                Attributes=cast("dict[QueueAttributeNameType, str]", {name: value}),
            )

    def put_notification(self, bucket: str, configuration: dict[str, Any]) -> None:
        """Put ``bucket``'s notification configuration; ``DestinationNotValidated`` if S3 could
        not validate the queue (a fresh queue policy may not have reached S3 yet)."""
        with _s3_errors("PutBucketNotificationConfiguration", bucket):
            self._s3.put_bucket_notification_configuration(
                Bucket=bucket,
                NotificationConfiguration=cast("NotificationConfigurationTypeDef", configuration),
            )


# Errors -------------------------------------------------------------------------------------


class _QueueMissing(Exception):
    """GetQueueUrl found no queue: setup creates it."""


class DestinationNotValidated(PermanentError):
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
            raise DestinationNotValidated(
                f"bucket {bucket}: S3 could not validate the events queue as a destination "
                f"({describe(exc)}); check that the queue is in the bucket's region and that its "
                "policy lets s3.amazonaws.com send to it"
            ) from exc
        raise PermanentError(f"bucket {bucket}: S3 refused {operation}: {describe(exc)}") from exc
