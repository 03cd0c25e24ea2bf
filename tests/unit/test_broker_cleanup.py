"""``s3meta broker-cleanup``: what dead processes left on SQS and SNS goes, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from click.testing import CliRunner

from s3meta.aws.broker_cleanup import clean_broker
from s3meta.cli import main
from s3meta.deployment.broker import HEARTBEAT_TAG, Kind

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

pytestmark = pytest.mark.usefixtures("isolated_environment")

UUID = "428ff9a8-1072-3f1b-a9ce-9d5abe250346"
DEAD_MONITOR = f"s3meta-celeryev-{UUID}"
LIVE_WORKER = "w1_host-s3meta-pidbox"
OTHER_APPS = f"celeryev-{UUID}"
LATER = datetime.now(UTC) + timedelta(hours=3)


def subscribe(sqs: SQSClient, sns: Any, topic: str, queue: str) -> str:
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    answer = sns.subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=arn["QueueArn"], ReturnSubscriptionArn=True
    )
    return str(answer["SubscriptionArn"])


@pytest.fixture
def broker(sqs: SQSClient) -> tuple[SQSClient, Any, dict[str, str]]:
    """A dead monitor's queue, a live worker's, another app's; a subscription to a gone queue."""
    sns = boto3.client("sns", region_name="us-east-1")
    subscriptions = {
        DEAD_MONITOR: subscribe(sqs, sns, "s3meta-celeryev", DEAD_MONITOR),
        LIVE_WORKER: subscribe(sqs, sns, "s3meta-pidbox", LIVE_WORKER),
        OTHER_APPS: subscribe(sqs, sns, "celeryev", OTHER_APPS),
        "gone": subscribe(sqs, sns, "s3meta-pidbox", "gone-s3meta-pidbox"),
    }
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName="gone-s3meta-pidbox")["QueueUrl"])
    live = sqs.get_queue_url(QueueName=LIVE_WORKER)["QueueUrl"]
    sqs.tag_queue(QueueUrl=live, Tags={HEARTBEAT_TAG: str(int(LATER.timestamp()) - 60)})
    return sqs, sns, subscriptions


def queue_names(sqs: SQSClient) -> set[str]:
    return {url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", [])}


def subscription_arns(sns: Any) -> set[str]:
    return {sub["SubscriptionArn"] for sub in sns.list_subscriptions()["Subscriptions"]}


def test_idle_s3meta_queues_and_subscriptions_to_gone_queues_are_removed(
    broker: tuple[SQSClient, Any, dict[str, str]],
) -> None:
    sqs, sns, subscriptions = broker

    done = clean_broker(sqs, sns, idle=timedelta(hours=1), dry_run=False, now=LATER)

    assert [(q.name, q.kind) for q in done.queues] == [(DEAD_MONITOR, Kind.EVENTS)]
    assert sorted(done.subscriptions) == sorted(
        [subscriptions[DEAD_MONITOR], subscriptions["gone"]]
    )
    assert DEAD_MONITOR not in queue_names(sqs)
    assert {LIVE_WORKER, OTHER_APPS} <= queue_names(sqs)
    assert subscription_arns(sns) == {subscriptions[LIVE_WORKER], subscriptions[OTHER_APPS]}


def test_a_dry_run_lists_the_same_and_removes_nothing(
    broker: tuple[SQSClient, Any, dict[str, str]],
) -> None:
    sqs, sns, subscriptions = broker
    before = (queue_names(sqs), subscription_arns(sns))

    done = clean_broker(sqs, sns, idle=timedelta(hours=1), dry_run=True, now=LATER)

    assert [q.name for q in done.queues] == [DEAD_MONITOR]
    assert sorted(done.subscriptions) == sorted(
        [subscriptions[DEAD_MONITOR], subscriptions["gone"]]
    )
    assert (queue_names(sqs), subscription_arns(sns)) == before


def test_the_command_with_dry_run_prints_json_and_keeps_recent_queues(
    broker: tuple[SQSClient, Any, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _sqs, _sns, subscriptions = broker

    result = CliRunner().invoke(main, ["broker-cleanup", "--dry-run", "--json"])

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    # Everything was created moments ago: only the subscription to a gone queue qualifies.
    assert body == {"dry_run": True, "queues": [], "subscriptions": [subscriptions["gone"]]}


@pytest.mark.parametrize("span", ["5m", "soon"])
def test_the_command_refuses_a_threshold_a_live_queue_could_exceed(span: str) -> None:
    result = CliRunner().invoke(main, ["broker-cleanup", "--older-than", span])

    assert result.exit_code == 2
    assert "--older-than" in result.output
