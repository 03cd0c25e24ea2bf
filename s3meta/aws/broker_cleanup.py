"""Remove the control and event queues, and SNS subscriptions, that dead processes left.

A clean shutdown deletes them (``tasks.sqs_transport``); a process that was killed cannot.
Only s3meta's own names are considered (``s3meta.deployment.broker``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from s3meta.aws.errors import describe, is_no_such_queue
from s3meta.deployment.arns import queue_name_of
from s3meta.deployment.broker import (
    EVENTS_TOPIC,
    PIDBOX_TOPIC,
    Litter,
    QueueSeen,
    kind_of,
    orphan_subscriptions,
    parse_heartbeat,
    select_litter,
)
from s3meta.errors import PermanentError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_TOPICS = (PIDBOX_TOPIC, EVENTS_TOPIC)


@dataclass(frozen=True)
class Cleanup:
    """What was removed (or, with ``dry_run``, would be)."""

    queues: list[Litter]
    subscriptions: list[str]
    dry_run: bool


def clean_broker(
    sqs: SQSClient, sns: Any, *, idle: timedelta, dry_run: bool, now: datetime | None = None
) -> Cleanup:
    """Delete s3meta's control and event queues idle for longer than ``idle``, then the
    SQS subscriptions of s3meta's SNS topics whose queue no longer exists.

    Raises ``PermanentError`` when AWS refuses a listing; a queue that vanished meanwhile
    is skipped.
    """
    now = now or datetime.now(UTC)
    try:
        urls = list(_queue_urls(sqs))
        litter = select_litter(_seen(sqs, urls), now, idle)
        for queue in litter if not dry_run else []:
            _delete_queue(sqs, queue.url)
        gone = {queue.name for queue in litter}
        live = {url.rsplit("/", 1)[-1] for url in urls} - gone
        # A queue the listing missed may exist all the same: ask for it by name.
        orphans = [
            (subscription, queue)
            for subscription, queue in _orphans(sns, live)
            if not _exists(sqs, queue, gone)
        ]
        for subscription_arn, _queue in orphans if not dry_run else []:
            sns.unsubscribe(SubscriptionArn=subscription_arn)
    except (ClientError, BotoCoreError) as exc:
        raise PermanentError(f"broker cleanup: {describe(exc)}") from exc
    return Cleanup(litter, [arn for arn, _queue in orphans], dry_run)


def _queue_urls(sqs: SQSClient) -> Iterator[str]:
    for page in sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 1000}):
        yield from page.get("QueueUrls", [])


def _seen(sqs: SQSClient, urls: list[str]) -> Iterator[QueueSeen]:
    for url in urls:
        name = url.rsplit("/", 1)[-1]
        if kind_of(name) is None:
            continue
        try:
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["CreatedTimestamp"]
            )["Attributes"]
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
        except ClientError as exc:
            if is_no_such_queue(exc):
                continue
            raise
        # Epoch seconds: whole on AWS, with a fraction on moto.
        created = datetime.fromtimestamp(float(attributes["CreatedTimestamp"]), UTC)
        yield QueueSeen(name, url, created, parse_heartbeat(tags))


def _delete_queue(sqs: SQSClient, url: str) -> None:
    try:
        sqs.delete_queue(QueueUrl=url)
    except ClientError as exc:
        if not is_no_such_queue(exc):
            raise


def _orphans(sns: Any, live: set[str]) -> Iterator[tuple[str, str]]:
    """``(subscription ARN, queue name)`` of s3meta topics' subscriptions to unlisted queues."""
    for topic_page in sns.get_paginator("list_topics").paginate():
        for topic in topic_page.get("Topics", []):
            arn = topic["TopicArn"]
            if arn.rsplit(":", 1)[-1] not in _TOPICS:
                continue
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
            for page in pages:
                subscriptions = page.get("Subscriptions", [])
                endpoints = {
                    sub["SubscriptionArn"]: sub.get("Endpoint", "") for sub in subscriptions
                }
                for subscription_arn in orphan_subscriptions(subscriptions, live):
                    yield subscription_arn, queue_name_of(endpoints[subscription_arn])


def _exists(sqs: SQSClient, name: str, gone: set[str]) -> bool:
    """Whether queue ``name`` exists: ListQueues is eventually consistent, GetQueueUrl is not."""
    if name in gone:
        return False
    try:
        sqs.get_queue_url(QueueName=name)
    except ClientError as exc:
        if is_no_such_queue(exc):
            return False
        raise
    return True
