"""The bridge opens no database, so it never reads the database secret: it runs with
``S3META_DATABASE_SECRET_ARN`` set as for every other service and Secrets Manager away."""

from __future__ import annotations

import json
import os
import uuid

import boto3

from s3meta.processes import free_port
from tests.support.cli import run_console
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV


def test_the_bridge_publishes_with_the_secret_set_and_secrets_manager_unreachable(
    moto_server: MotoServer,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    events, dead_letters, tasks = (f"{role}-{suffix}" for role in ("events", "dlq", "tasks"))
    sqs = boto3.client(
        "sqs",
        endpoint_url=moto_server.url,
        region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    for name in (events, dead_letters, tasks):
        sqs.create_queue(QueueName=name)
    record = {
        "eventVersion": "2.1",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-20T10:15:30.123Z",
        "s3": {"bucket": {"name": "bucket-a"}, "object": {"key": "k", "size": 1}},
    }
    events_url = sqs.get_queue_url(QueueName=events)["QueueUrl"]
    sqs.send_message(QueueUrl=events_url, MessageBody=json.dumps({"Records": [record]}))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3META_"))}
    env = {
        **inherited,
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL": moto_server.url,
        # Nothing listens here: any call to Secrets Manager would fail the start.
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": f"http://127.0.0.1:{free_port()}",
        "S3META_DATABASE_URL": "mysql+pymysql://s3meta@db.example.internal/s3meta",
        "S3META_DATABASE_SECRET_ARN": f"s3meta/no-such-secret-{suffix}",
        "S3META_EVENTS_QUEUE": events,
        "S3META_DEAD_LETTER_QUEUE": dead_letters,
        "S3META_TASK_QUEUE": tasks,
    }

    done = run_console("bridge", "--drain", env=env)

    assert done.returncode == 0, done.stderr
    assert "S3META_DATABASE_SECRET_ARN" not in done.stderr
    assert "published=1 " in done.stderr, done.stderr
    tasks_url = sqs.get_queue_url(QueueName=tasks)["QueueUrl"]
    depth = sqs.get_queue_attributes(
        QueueUrl=tasks_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "1"
