"""The local stand-in's SQS under concurrent clients: nothing lost, nothing handed out twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import boto3

from tests.support.processes import MotoServer

SENDERS = 4
RECEIVERS = 3
PER_SENDER = 150
DEADLINE = 90.0


def _sqs(server: MotoServer) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_concurrent_sends_receives_and_deletes_lose_and_repeat_nothing(
    moto_server: MotoServer,
) -> None:
    url = _sqs(moto_server).create_queue(QueueName=f"concurrency-{uuid.uuid4().hex[:8]}")[
        "QueueUrl"
    ]
    expected = {f"{sender}-{n}" for sender in range(SENDERS) for n in range(PER_SENDER)}
    received: Counter[str] = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + DEADLINE
    errors: list[BaseException] = []

    def send(sender: int) -> None:
        client = _sqs(moto_server)
        for start in range(0, PER_SENDER, 10):
            entries = [
                {"Id": str(n), "MessageBody": f"{sender}-{n}"}
                for n in range(start, min(start + 10, PER_SENDER))
            ]
            client.send_message_batch(QueueUrl=url, Entries=entries)

    def receive() -> None:
        client = _sqs(moto_server)
        while time.monotonic() < deadline:
            with lock:
                if sum(received.values()) >= len(expected):
                    return
            messages = client.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
            ).get("Messages", [])
            with lock:
                received.update(message["Body"] for message in messages)
            for message in messages:
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(send, n)) for n in range(SENDERS)]
    threads += [threading.Thread(target=guarded, args=(receive,)) for _ in range(RECEIVERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE + 30)

    assert not errors, errors
    assert set(received) == expected, f"{len(expected - set(received))} messages lost"
    assert [body for body, times in received.items() if times > 1] == []
    attributes = _sqs(moto_server).get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
