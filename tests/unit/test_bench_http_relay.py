"""The benchmark's HTTP relay counts each AWS request by operation and queue, per listener."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from benchmarks.relays import ListenerSpec, RelayProcess, operation

QUEUE_URL = "http://127.0.0.1/123456789012/tasks-1"


def answer(target: str) -> dict[str, Any]:
    """What SQS would say to the JSON protocol's ``target``, just enough for botocore."""
    if target.endswith("ReceiveMessage"):
        body = "hello"
        digest = hashlib.md5(body.encode()).hexdigest()
        return {"Messages": [{"MessageId": "m1", "ReceiptHandle": "r1", "MD5OfBody": digest,
                              "Body": body}]}  # fmt: skip
    if target.endswith("Batch"):
        return {"Successful": [], "Failed": []}
    return {}


def handler(protocol: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = protocol

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "64")
            self.send_header("ETag", '"abc"')
            self.end_headers()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps(answer(self.headers["X-Amz-Target"])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(params=["HTTP/1.0", "HTTP/1.1"], ids=["closing", "keep-alive"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A tiny AWS stand-in: closing each connection (as moto does) or keeping it."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler(request.param))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def relay(server: int, tmp_path: Path) -> Iterator[RelayProcess]:
    specs = [
        ListenerSpec("design", "http", ("127.0.0.1", server), delayed=True),
        ListenerSpec("harness", "http", ("127.0.0.1", server)),
    ]
    relay = RelayProcess(specs, tmp_path / "relay.log")
    yield relay
    relay.stop()


def clients(url: str) -> tuple[Any, Any]:
    session = boto3.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=url), session.client("sqs", endpoint_url=url)


def test_each_request_is_counted_once_under_its_operation_and_queue(relay: RelayProcess) -> None:
    s3, sqs = clients(relay.url("design"))
    s3.head_object(Bucket="bucket", Key="dir/object 1.bin")
    s3.head_object(Bucket="bucket", Key="dir/object 2.bin")
    messages = sqs.receive_message(QueueUrl=QUEUE_URL, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle=messages[0]["ReceiptHandle"])
    entries = [{"Id": str(n), "MessageBody": "x"} for n in range(3)]
    sqs.send_message_batch(QueueUrl=QUEUE_URL, Entries=entries)

    design = relay.counts()["design"]
    assert dict(design.calls) == {
        "HeadObject": 2,
        "ReceiveMessage[tasks-1]": 1,
        "DeleteMessage[tasks-1]": 1,
        "SendMessageBatch[tasks-1]": 1,
    }
    # Entries of a batch call, messages a receive returned.
    assert dict(design.items) == {"ReceiveMessage[tasks-1]": 1, "SendMessageBatch[tasks-1]": 3}


def test_listeners_count_apart_and_a_later_count_minus_an_earlier_is_what_happened_between(
    relay: RelayProcess,
) -> None:
    _, design_sqs = clients(relay.url("design"))
    _, harness_sqs = clients(relay.url("harness"))
    relay.set_delay(0.001)
    design_sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle="r1")
    before = relay.counts()
    harness_sqs.get_queue_attributes(QueueUrl=QUEUE_URL)
    design_sqs.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle="r2")
    after = relay.counts()

    assert dict((after["design"] - before["design"]).calls) == {"DeleteMessage[tasks-1]": 1}
    assert dict(after["harness"].calls) == {"GetQueueAttributes[tasks-1]": 1}


def test_query_protocol_requests_are_named_by_their_action() -> None:
    body = b"Action=DeleteMessageBatch&QueueUrl=http%3A%2F%2Fh%2F1%2Fevents-2&Version=2012-11-05"
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    assert operation("POST", "/", headers, body) == ("DeleteMessageBatch", "events-2")


def test_s3_requests_are_named_by_method_path_and_sub_resource() -> None:
    assert operation("GET", "/bucket?list-type=2&prefix=a", {}, b"") == (
        "ListObjects?list-type",
        "",
    )
    assert operation("PUT", "/bucket/key?x-id=PutObject", {}, b"") == ("PutObject", "")
    assert operation("HEAD", "/bucket", {}, b"") == ("HeadBucket", "")
