"""``s3meta setup`` against moto's server: queues, queue policy, bucket notifications."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner, Result

from s3meta.aws.clients import s3_client, sqs_client, sts_client
from s3meta.cli import LazyGroup
from s3meta.cli.setup import setup
from s3meta.config import get_settings, load_settings
from s3meta.deployment.notifications import KeyFilter
from s3meta.deployment.queue_policy import POLICY_STATEMENT_ID
from s3meta.errors import PermanentError
from s3meta.operations.setup import Setup
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        NotificationConfigurationTypeDef,
        QueueConfigurationOutputTypeDef,
    )
    from mypy_boto3_sqs import SQSClient

ACCOUNT = "123456789012"  # moto's
# The command as the ``s3meta`` group runs it: S3MetaError becomes "Error: ..." and exit 1.
CLI = LazyGroup("s3meta", commands={"setup": setup})
# Variables other tests of the session may have left in the environment.
_UNSET = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "S3META_BROKER_URL",
    "S3META_RETRY_BACKOFF_MAX",
    "S3META_TASK_TIME_LIMIT",
)


@dataclass
class Aws:
    """moto's server with this test's own queue names, and clients to look at it."""

    env: dict[str, str | None]
    url: str
    events: str
    tasks: str
    dead_letters: str

    def s3(self) -> S3Client:
        return boto3.client("s3", endpoint_url=self.url, **_CLIENT)

    def sqs(self) -> SQSClient:
        return boto3.client("sqs", endpoint_url=self.url, **_CLIENT)

    def sns(self) -> Any:
        return boto3.client("sns", endpoint_url=self.url, **_CLIENT)

    def run(self, *args: str) -> Result:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(CLI, ["setup", *args], env=self.env)
        finally:
            get_settings.cache_clear()

    def new_bucket(self) -> str:
        name = f"setup-{uuid.uuid4().hex[:12]}"
        self.s3().create_bucket(Bucket=name)
        return name

    def new_queue(self, prefix: str) -> str:
        """A queue of another consumer; returns its ARN."""
        client = self.sqs()
        url = client.create_queue(QueueName=f"{prefix}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        return self.arn_of(url)

    def arn_of(self, url: str) -> str:
        attributes = self.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    def url_of(self, name: str) -> str:
        return self.sqs().get_queue_url(QueueName=name)["QueueUrl"]

    def queue_exists(self, name: str) -> bool:
        return any(
            url.rsplit("/", 1)[-1] == name
            for url in self.sqs().list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        )

    def attributes(self, name: str) -> dict[str, str]:
        response = self.sqs().get_queue_attributes(
            QueueUrl=self.url_of(name), AttributeNames=["All"]
        )
        return {str(key): value for key, value in response["Attributes"].items()}

    def notifications(self, bucket: str) -> dict[str, Any]:
        response = dict(self.s3().get_bucket_notification_configuration(Bucket=bucket))
        response.pop("ResponseMetadata", None)
        return response

    def bodies(self, queue_url: str) -> list[dict[str, Any]]:
        """Every message on the queue now, deleted once read."""
        client = self.sqs()
        found: list[dict[str, Any]] = []
        while True:
            messages = client.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


_CLIENT: dict[str, Any] = {
    "region_name": "us-east-1",
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
}


@pytest.fixture
def aws(moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    suffix = uuid.uuid4().hex[:8]
    names = {
        "S3META_EVENTS_QUEUE": f"setup-events-{suffix}",
        "S3META_TASK_QUEUE": f"setup-tasks-{suffix}",
        "S3META_DEAD_LETTER_QUEUE": f"setup-dlq-{suffix}",
    }
    env: dict[str, str | None] = {
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL": moto_server.url,
        **names,
        "S3META_VISIBILITY_TIMEOUT": "1200",
        **dict.fromkeys(_UNSET),
    }
    get_settings.cache_clear()
    yield Aws(
        env=env,
        url=moto_server.url,
        events=names["S3META_EVENTS_QUEUE"],
        tasks=names["S3META_TASK_QUEUE"],
        dead_letters=names["S3META_DEAD_LETTER_QUEUE"],
    )
    get_settings.cache_clear()


def error_line(result: Result) -> str:
    """The one line an error ends with; no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()[-1]


def records(bodies: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(event name, decoded key) of every record; moto encodes keys with quote_plus."""
    return [
        (record["eventName"], unquote_plus(record["s3"]["object"]["key"]))
        for body in bodies
        for record in body.get("Records", [])
    ]


def test_setup_twice_keeps_other_consumers_and_uploads_reach_the_events_queue(aws: Aws) -> None:
    bucket = aws.new_bucket()
    topic = aws.sns().create_topic(Name=f"uploads-{uuid.uuid4().hex[:8]}")["TopicArn"]
    other_queue = aws.new_queue("other-consumer")
    others: NotificationConfigurationTypeDef = {
        "TopicConfigurations": [
            {"Id": "their-topic", "TopicArn": topic, "Events": ["s3:ObjectRestore:*"]}
        ],
        "QueueConfigurations": [
            {
                "Id": "their-queue",
                "QueueArn": other_queue,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "other/"}]}},
            }
        ],
    }
    s3 = aws.s3()
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=others)

    first = aws.run("--bucket", bucket, "--prefix", "data/", "--suffix", ".txt")

    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[:3] == [
        f"create queue {aws.dead_letters} (MessageRetentionPeriod=1209600)",
        f"create queue {aws.events} (VisibilityTimeout=300, RedrivePolicy: to "
        f"{aws.dead_letters} after 5 receives, Policy: allow s3.amazonaws.com to SendMessage "
        f"for bucket(s) {bucket} of account {ACCOUNT})",
        f"create queue {aws.tasks} (VisibilityTimeout=1200)",
    ]
    assert lines[3].startswith(f"put notification configuration on bucket {bucket}: add ")
    assert lines[3].endswith("prefix 'data/', suffix '.txt'); keep 2 other configuration(s)")
    assert lines[4] == "4 change(s) made"
    configured = aws.notifications(bucket)
    assert configured["TopicConfigurations"] == others["TopicConfigurations"]
    assert configured["QueueConfigurations"][0] == others["QueueConfigurations"][0]
    events_url = aws.url_of(aws.events)
    events_arn = aws.arn_of(events_url)
    assert configured["QueueConfigurations"][1] == {
        "Id": f"s3meta-{aws.events}",
        "QueueArn": events_arn,
        "Events": [
            "s3:ObjectCreated:*",
            "s3:ObjectRemoved:*",
            "s3:LifecycleExpiration:*",
            "s3:ObjectTagging:*",
        ],
        "Filter": {
            "Key": {
                "FilterRules": [
                    {"Name": "prefix", "Value": "data/"},
                    {"Name": "suffix", "Value": ".txt"},
                ]
            }
        },
    }
    # Configuring the notification made S3 send its test event.
    assert [body.get("Event") for body in aws.bodies(events_url)] == ["s3:TestEvent"]

    second = aws.run("--bucket", bucket, "--prefix", "data/", "--suffix", ".txt")

    assert second.exit_code == 0, second.output
    assert second.output == "nothing to change\n"
    assert aws.notifications(bucket) == configured

    s3.put_object(Bucket=bucket, Key="data/hello world+1.txt", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="data/skipped.csv", Body=b"not ours: suffix")
    s3.put_object(Bucket=bucket, Key="other/theirs.txt", Body=b"not ours: prefix")
    s3.delete_object(Bucket=bucket, Key="data/hello world+1.txt")

    # Nothing was put the second time, so no second test event either.
    # moto follows every put with an ObjectTagging:Put, which S3 sends only for a tag change.
    assert records(aws.bodies(events_url)) == [
        ("ObjectCreated:Put", "data/hello world+1.txt"),
        ("ObjectTagging:Put", "data/hello world+1.txt"),
        ("ObjectRemoved:Delete", "data/hello world+1.txt"),
    ]
    # The other consumer's queue still gets its own events.
    their_records = records(aws.bodies(aws.url_of(other_queue.rsplit(":", 1)[1])))
    assert their_records == [("ObjectCreated:Put", "other/theirs.txt")]


def test_queue_attributes_redrive_and_policy(aws: Aws) -> None:
    first, second = aws.new_bucket(), aws.new_bucket()

    result = aws.run("--bucket", first, "--bucket", second, "--bucket", first)

    assert result.exit_code == 0, result.output
    dead_letters = aws.attributes(aws.dead_letters)
    events = aws.attributes(aws.events)
    tasks = aws.attributes(aws.tasks)
    assert dead_letters["MessageRetentionPeriod"] == "1209600"
    assert tasks["VisibilityTimeout"] == "1200"
    assert events["VisibilityTimeout"] == "300"
    redrive = json.loads(events["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_letters["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == 5
    policy = json.loads(events["Policy"])
    (statement,) = policy["Statement"]
    assert statement == {
        "Sid": POLICY_STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": events["QueueArn"],
        "Condition": {
            "ArnLike": {
                "aws:SourceArn": sorted([f"arn:aws:s3:::{first}", f"arn:aws:s3:::{second}"])
            },
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
        },
    }

    # Another bucket later: the ones already wired stay allowed.
    third = aws.new_bucket()
    later = aws.run("--bucket", third)

    assert later.exit_code == 0, later.output
    assert later.output.splitlines()[0].startswith(f"set attribute Policy on {aws.events}: ")
    statement = json.loads(aws.attributes(aws.events)["Policy"])["Statement"][0]
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == sorted(
        f"arn:aws:s3:::{bucket}" for bucket in (first, second, third)
    )


def test_attributes_that_differ_on_existing_queues_are_updated(aws: Aws) -> None:
    bucket = aws.new_bucket()
    sqs = aws.sqs()
    sqs.create_queue(QueueName=aws.tasks, Attributes={"VisibilityTimeout": "30"})
    sqs.create_queue(QueueName=aws.events, Attributes={"VisibilityTimeout": "60"})
    sqs.create_queue(QueueName=aws.dead_letters, Attributes={"MessageRetentionPeriod": "1209600"})

    planned = aws.run("--bucket", bucket, "--dry-run")

    assert planned.exit_code == 0, planned.output
    assert planned.output.splitlines() == [
        f"set attribute VisibilityTimeout on {aws.events}: 60 -> 300",
        f"set attribute RedrivePolicy on {aws.events}: to {aws.dead_letters} after 5 receives",
        f"set attribute Policy on {aws.events}: allow s3.amazonaws.com to SendMessage for "
        f"bucket(s) {bucket} of account {ACCOUNT}",
        f"set attribute VisibilityTimeout on {aws.tasks}: 30 -> 1200",
        f"put notification configuration on bucket {bucket}: add s3meta-{aws.events} -> "
        f"{aws.events} (s3:ObjectCreated:*, s3:ObjectRemoved:*, s3:LifecycleExpiration:*, "
        "s3:ObjectTagging:*; every key)",
        "dry run: 5 change(s) planned, nothing changed",
    ]
    assert aws.attributes(aws.tasks)["VisibilityTimeout"] == "30"
    assert "Policy" not in aws.attributes(aws.events)

    applied = aws.run("--bucket", bucket)

    assert applied.exit_code == 0, applied.output
    assert applied.output.splitlines() == [*planned.output.splitlines()[:-1], "5 change(s) made"]
    assert aws.attributes(aws.tasks)["VisibilityTimeout"] == "1200"
    assert aws.attributes(aws.events)["VisibilityTimeout"] == "300"
    assert aws.run("--bucket", bucket).output == "nothing to change\n"


def test_dry_run_changes_nothing_and_json_lists_the_actions(aws: Aws) -> None:
    bucket = aws.new_bucket()

    result = aws.run("--bucket", bucket, "--prefix", "in/", "--dry-run", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    events_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{aws.events}"
    assert report["dry_run"] is True
    assert report["changed"] is False
    assert report["account_id"] == ACCOUNT
    assert report["queues"]["events"] == events_arn
    assert [(a["action"], a.get("queue") or a.get("bucket")) for a in report["actions"]] == [
        ("create_queue", aws.dead_letters),
        ("create_queue", aws.events),
        ("create_queue", aws.tasks),
        ("put_bucket_notification_configuration", bucket),
    ]
    events_attributes = report["actions"][1]["attributes"]
    assert events_attributes["RedrivePolicy"] == {
        "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{aws.dead_letters}",
        "maxReceiveCount": 5,
    }
    assert events_attributes["Policy"]["Statement"][0]["Resource"] == events_arn
    put = report["actions"][3]
    assert put["change"] == "add"
    assert put["configuration"]["Filter"] == {
        "Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}
    }
    for name in (aws.events, aws.tasks, aws.dead_letters):
        assert not aws.queue_exists(name)
    assert aws.notifications(bucket) == {}

    applied = aws.run("--bucket", bucket, "--prefix", "in/", "--json")

    assert applied.exit_code == 0, applied.output
    done = json.loads(applied.output)
    assert done["changed"] is True
    assert done["actions"] == report["actions"]
    again = json.loads(aws.run("--bucket", bucket, "--prefix", "in/", "--json").output)
    assert again["changed"] is False
    assert again["actions"] == []


def test_a_changed_filter_replaces_our_configuration_only(aws: Aws) -> None:
    bucket = aws.new_bucket()
    other_queue = aws.new_queue("other-consumer")
    theirs: QueueConfigurationOutputTypeDef = {
        "Id": "theirs",
        "QueueArn": other_queue,
        "Events": ["s3:ObjectRestore:*"],
    }
    aws.s3().put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [theirs]},
    )
    assert aws.run("--bucket", bucket, "--prefix", "a/").exit_code == 0

    result = aws.run("--bucket", bucket, "--prefix", "b/")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"put notification configuration on bucket {bucket}: replace s3meta-{aws.events} -> "
        f"{aws.events} (s3:ObjectCreated:*, s3:ObjectRemoved:*, s3:LifecycleExpiration:*, "
        f"s3:ObjectTagging:*; prefix 'a/') with s3meta-{aws.events} -> {aws.events} "
        "(s3:ObjectCreated:*, s3:ObjectRemoved:*, s3:LifecycleExpiration:*, s3:ObjectTagging:*; "
        "prefix 'b/'); keep 1 other configuration(s)",
        "1 change(s) made",
    ]
    queues = aws.notifications(bucket)["QueueConfigurations"]
    assert queues[0] == theirs
    assert [rule["Value"] for rule in queues[1]["Filter"]["Key"]["FilterRules"]] == ["b/"]


def test_an_overlapping_configuration_of_another_consumer_is_one_clear_error(aws: Aws) -> None:
    bucket = aws.new_bucket()
    other_queue = aws.new_queue("other-consumer")
    theirs: QueueConfigurationOutputTypeDef = {
        "Id": "their-uploads",
        "QueueArn": other_queue,
        "Events": ["s3:ObjectCreated:Put"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "data/"}]}},
    }
    aws.s3().put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [theirs]},
    )

    result = aws.run("--bucket", bucket, "--prefix", "data/in/")

    assert result.exit_code == 1
    line = error_line(result)
    assert result.output.strip() == line
    assert line.startswith(f"Error: bucket {bucket}: s3meta's notification")
    assert "'their-uploads'" in line
    assert "overlap" in line
    # Found while planning: nothing was created.
    assert not aws.queue_exists(aws.events)
    assert aws.notifications(bucket)["QueueConfigurations"] == [theirs]


def test_a_missing_bucket_is_one_clear_error_before_any_change(aws: Aws) -> None:
    present = aws.new_bucket()
    missing = f"missing-{uuid.uuid4().hex[:12]}"

    result = aws.run("--bucket", present, "--bucket", missing)

    assert result.exit_code == 1
    assert result.output == f"Error: bucket {missing} does not exist (NoSuchBucket)\n"
    assert not aws.queue_exists(aws.dead_letters)
    assert aws.notifications(present) == {}


def test_create_buckets_creates_only_the_missing_ones_and_wires_them(aws: Aws) -> None:
    present = aws.new_bucket()
    missing = f"created-{uuid.uuid4().hex[:12]}"

    planned = aws.run("--bucket", present, "--bucket", missing, "--create-buckets", "--dry-run")
    result = aws.run("--bucket", present, "--bucket", missing, "--create-buckets")

    assert planned.exit_code == 0, planned.output
    assert f"create bucket {missing} in us-east-1" in planned.output
    assert f"create bucket {present}" not in planned.output
    assert result.exit_code == 0, result.output
    assert f"create bucket {missing} in us-east-1" in result.output
    aws.s3().put_object(Bucket=missing, Key="first upload.txt", Body=b"x")
    delivered = records(aws.bodies(aws.url_of(aws.events)))
    assert ("ObjectCreated:Put", "first upload.txt") in delivered
    again = aws.run("--bucket", present, "--bucket", missing, "--create-buckets")
    assert again.output.strip().splitlines()[-1] == "nothing to change"


def test_buckets_may_come_from_the_environment(aws: Aws) -> None:
    first, second = aws.new_bucket(), aws.new_bucket()
    aws.env["S3META_BUCKETS"] = f"{first} {second}"
    try:
        result = aws.run("--dry-run", "--json")
    finally:
        del aws.env["S3META_BUCKETS"]

    assert result.exit_code == 0, result.output
    wired = {
        action["bucket"]
        for action in json.loads(result.output)["actions"]
        if action["action"] == "put_bucket_notification_configuration"
    }
    assert wired == {first, second}


@pytest.mark.parametrize(
    "args",
    [
        ["--bucket", "Not_A_Bucket"],
        ["--bucket", "ok-bucket", "--bucket", "x"],
        ["--bucket", "s3://bucket-a"],
    ],
)
def test_an_invalid_bucket_name_is_a_usage_error(aws: Aws, args: list[str]) -> None:
    result = aws.run(*args)

    assert result.exit_code == 2
    assert "invalid bucket name" in error_line(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one --bucket"),
        (["--bucket", "bucket-a", "--account-id", "1"], "go with --iam-policy"),
        (["--iam-policy", "worker"], "needs at least one --bucket"),
        (["--iam-policy", "lambda"], "--iam-policy lambda needs at least one --bucket"),
        (["--iam-policy", "bridge", "--dry-run"], "do not apply"),
        (["--iam-policy", "bridge", "--create-buckets"], "do not apply"),
        (["--iam-policy", "bridge", "--account-id", "12"], "12 digits"),
        (["--iam-policy", "admin"], "'admin' is not one of"),
    ],
)
def test_bad_arguments_are_usage_errors(aws: Aws, args: list[str], message: str) -> None:
    result = aws.run(*args)

    assert result.exit_code == 2
    assert message in error_line(result)


def test_an_events_queue_s3_cannot_send_to_is_one_clear_error(aws: Aws) -> None:
    bucket = aws.new_bucket()
    aws.sqs().create_queue(QueueName=aws.events, Attributes={"KmsMasterKeyId": "alias/aws/sqs"})

    result = aws.run("--bucket", bucket)

    assert result.exit_code == 1
    assert error_line(result).startswith(
        f"Error: queue {aws.events} is encrypted with the AWS managed key alias/aws/sqs"
    )
    assert not aws.queue_exists(aws.dead_letters)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("S3META_EVENTS_QUEUE", "events.fifo", "cannot go to a FIFO queue"),
        ("S3META_TASK_QUEUE", None, "S3META_EVENTS_QUEUE and S3META_TASK_QUEUE name the same"),
    ],
)
def test_queue_names_setup_cannot_use(
    aws: Aws, variable: str, value: str | None, message: str
) -> None:
    aws.env[variable] = value or aws.events

    result = aws.run("--bucket", aws.new_bucket())

    assert result.exit_code == 1
    assert message in error_line(result)
    assert not aws.queue_exists(aws.dead_letters)


# --iam-policy: no AWS call (the endpoint is a closed port) ---------------------------------


def test_iam_policy_for_the_worker(aws: Aws) -> None:
    aws.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"  # nothing listens: no call may be made

    result = aws.run(
        "--iam-policy", "worker", "--bucket", "bucket-a", "--account-id", "111122223333",
        "--prefix", "in/", "--kms-key", "arn:aws:kms:us-east-1:111122223333:key/k",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    policy = json.loads(result.output)
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    tasks = f"arn:aws:sqs:us-east-1:111122223333:{aws.tasks}"
    assert by_sid["ReadObjectMetadataAndTags"]["Resource"] == ["arn:aws:s3:::bucket-a/in/*"]
    assert "s3:GetObject" in by_sid["ReadObjectMetadataAndTags"]["Action"]
    assert by_sid["ConsumeAndRetryTasks"]["Resource"] == tasks
    assert by_sid["KombuCreatesTheTaskQueueIfMissing"]["Resource"] == tasks
    assert by_sid["DecryptSseKmsObjects"]["Action"] == "kms:Decrypt"


def test_iam_policy_for_the_bridge_and_every_bucket_warning(aws: Aws) -> None:
    aws.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"

    bridge = aws.run("--iam-policy", "bridge")
    worker = aws.run("--iam-policy", "worker", "--bucket", "*")

    assert bridge.exit_code == 0, bridge.output
    statements = json.loads(bridge.output)["Statement"]
    assert statements[0]["Resource"] == f"arn:aws:sqs:us-east-1:*:{aws.events}"
    assert statements[1]["Resource"] == [
        f"arn:aws:sqs:us-east-1:*:{aws.tasks}",
        f"arn:aws:sqs:us-east-1:*:{aws.dead_letters}",
    ]
    assert worker.exit_code == 0, worker.output
    assert "warning: --bucket '*'" in worker.stderr
    assert json.loads(worker.stdout)["Statement"][0]["Resource"] == ["arn:aws:s3:::*/*"]


# Errors S3 gives that moto does not: stubbed responses -----------------------------------------


@pytest.fixture
def provision(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Setup, Stubber, list[float]]]:
    """A ``Setup`` on moto whose S3 calls are stubbed; the sleeps it asked for."""
    for name, value in aws.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = load_settings()
    s3 = s3_client(settings)
    slept: list[float] = []
    setup_ = Setup(
        settings,
        sqs=sqs_client(settings),
        s3=s3,
        sts=sts_client(settings),
        sleep=slept.append,
        retry_delays=(1, 2),
    )
    with Stubber(s3) as stubber:
        yield setup_, stubber, slept


def test_access_denied_names_the_bucket_and_the_permission(
    provision: tuple[Setup, Stubber, list[float]],
) -> None:
    setup_, stubber, _ = provision
    stubber.add_client_error(
        "get_bucket_notification_configuration",
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
    )

    with pytest.raises(PermanentError) as caught:
        setup_.plan(["bucket-a"], KeyFilter())

    assert str(caught.value) == (
        "access denied: GetBucketNotificationConfiguration on bucket bucket-a needs "
        "s3:GetBucketNotification (AccessDenied: Access Denied)"
    )


def test_a_destination_s3_cannot_validate_yet_is_retried_then_reported(
    aws: Aws, provision: tuple[Setup, Stubber, list[float]]
) -> None:
    setup_, stubber, slept = provision
    stubber.add_response("get_bucket_notification_configuration", {}, {"Bucket": "bucket-a"})
    plan = setup_.plan(["bucket-a"], KeyFilter())
    for _ in range(3):
        stubber.add_client_error(
            "put_bucket_notification_configuration",
            service_error_code="InvalidArgument",
            service_message="Unable to validate the following destination configurations",
            http_status_code=400,
        )

    with pytest.raises(PermanentError) as caught:
        setup_.apply(plan)

    assert slept == [1, 2]
    assert str(caught.value).startswith(
        "bucket bucket-a: S3 could not validate the events queue as a destination"
    )
    assert aws.queue_exists(aws.events)  # the queues were made before the bucket's turn


def test_a_refused_configuration_is_reported_with_the_bucket(
    provision: tuple[Setup, Stubber, list[float]],
) -> None:
    setup_, stubber, slept = provision
    stubber.add_response("get_bucket_notification_configuration", {}, {"Bucket": "bucket-a"})
    plan = setup_.plan(["bucket-a"], KeyFilter())
    stubber.add_client_error(
        "put_bucket_notification_configuration",
        service_error_code="InvalidArgument",
        service_message="Configurations overlap. Configurations on the same bucket cannot "
        "share a common event type.",
        http_status_code=400,
    )

    with pytest.raises(PermanentError) as caught:
        setup_.apply(plan)

    assert slept == []
    assert str(caught.value) == (
        "bucket bucket-a: S3 refused PutBucketNotificationConfiguration: InvalidArgument: "
        "Configurations overlap. Configurations on the same bucket cannot share a common "
        "event type."
    )
