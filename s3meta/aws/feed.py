"""Where the change feed publishes: an SNS topic (PublishBatch) or an SQS queue
(SendMessageBatch), ten messages a request, botocore's errors turned into s3meta's.

On a FIFO topic or queue each message carries ``MessageGroupId`` = ``bucket/key`` and
``MessageDeduplicationId`` = the journal entry's id; on a standard one, neither (the body's
``sequence`` orders a key's messages). Every message carries its ``bucket`` and
``record_type`` as message attributes, for SNS subscription filter policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import NO_SUCH_QUEUE, Failure, classify, describe
from s3meta.domain.changes import (
    REQUEST_LIMIT,
    PendingChange,
    Target,
    TargetKind,
    change_message,
    group_id,
)
from s3meta.errors import PermanentError, QueueUnavailable

_NO_SUCH_TOPIC = frozenset({"NotFound", "NotFoundException"})


class FeedPublisher:
    """Publishes changes to ``target`` through ``client`` (an SNS or SQS client, as the
    target's kind)."""

    def __init__(self, client: Any, target: Target) -> None:
        self._client = client
        self.target = target
        self._url = target.url

    @property
    def where(self) -> str:
        kind = "SNS topic" if self.target.kind is TargetKind.SNS else "SQS queue"
        return f"{kind} {self.target.arn or self._url or self.target.name!r}"

    def check(self) -> None:
        """Raise ``PermanentError`` (one line) unless the target exists and answers."""
        if self.target.kind is TargetKind.SNS:
            with feed_errors(f"look up {self.where}"):
                self._client.get_topic_attributes(TopicArn=self.target.arn)
        else:
            _ = self.queue_url

    @property
    def queue_url(self) -> str:
        if self._url is None:
            owner = {"QueueOwnerAWSAccountId": self.target.account} if self.target.account else {}
            with feed_errors(f"look up SQS queue {self.target.name!r}"):
                found = self._client.get_queue_url(QueueName=self.target.name, **owner)
            self._url = str(found["QueueUrl"])
        return self._url

    def publish(self, changes: Sequence[PendingChange]) -> dict[int, str]:
        """Publish ``changes`` (at most ten) in one request; the outbox ids of those refused,
        with why. Raises ``QueueUnavailable`` or ``PermanentError`` if the request failed."""
        if len(changes) > REQUEST_LIMIT:
            raise ValueError(f"at most {REQUEST_LIMIT} changes a request, not {len(changes)}")
        if not changes:
            return {}
        entries = [self._entry(str(number), change) for number, change in enumerate(changes)]
        with feed_errors(f"publish to {self.where}"):
            if self.target.kind is TargetKind.SNS:
                response = self._client.publish_batch(
                    TopicArn=self.target.arn, PublishBatchRequestEntries=entries
                )
            else:
                for entry in entries:
                    entry["MessageBody"] = entry.pop("Message")
                response = self._client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return {
            changes[int(failed["Id"])].outbox_id: f"{failed.get('Code')}: {failed.get('Message')}"
            for failed in response.get("Failed", [])
        }

    def _entry(self, number: str, change: PendingChange) -> dict[str, Any]:
        body = json.dumps(change_message(change.journal_id, change.entry), ensure_ascii=False)
        entry: dict[str, Any] = {
            "Id": number,
            "Message": body,
            "MessageAttributes": {
                "bucket": {"DataType": "String", "StringValue": change.entry.bucket},
                "record_type": {"DataType": "String", "StringValue": change.entry.record_type},
            },
        }
        if self.target.fifo:
            entry["MessageGroupId"] = group_id(change)
            entry["MessageDeduplicationId"] = str(change.journal_id)
        return entry


@contextmanager
def feed_errors(what: str) -> Iterator[None]:
    """botocore's errors from SNS and SQS calls made inside, as s3meta's."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        failure = classify(exc, NO_SUCH_QUEUE | _NO_SUCH_TOPIC)
        if failure is Failure.NOT_FOUND:
            raise PermanentError(f"{what}: it does not exist (S3META_CHANGE_TOPIC)") from exc
        if failure is Failure.TRANSIENT:
            raise QueueUnavailable(f"{what}: {describe(exc)}") from exc
        raise PermanentError(f"{what}: {describe(exc)}") from exc
