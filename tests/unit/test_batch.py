"""``BatchPublisher``: ten to a request, in order, and partial failures reported."""

from __future__ import annotations

from typing import Any

import pytest

from s3meta.errors import PublishError
from tasks.batch import BatchPublisher, EncodedTask, decode_body

URL = "http://sqs.local/123/tasks"


class FakeSqs:
    def __init__(self, fail_ids: set[str] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_ids = fail_ids or set()

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        assert QueueUrl == URL
        self.calls.append(Entries)
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "Message": "boom", "SenderFault": False}
            for e in Entries
            if e["Id"] in self.fail_ids
        ]
        ok = [{"Id": e["Id"]} for e in Entries if e["Id"] not in self.fail_ids]
        return {"Successful": ok, "Failed": failed}


def encode(bucket: str, key: str) -> EncodedTask:
    return EncodedTask(task_id=key, queue="tasks", queue_url=URL, body=f"{bucket}/{key}")


def publisher(sqs: FakeSqs, batch_size: int = 10) -> BatchPublisher:
    return BatchPublisher(sqs, encode, batch_size=batch_size)  # type: ignore[arg-type]


def test_tasks_go_ten_to_a_request_in_order() -> None:
    sqs = FakeSqs()
    batch = publisher(sqs)
    for number in range(25):
        batch.add("b", f"k{number:02}")
    assert [len(call) for call in sqs.calls] == [10, 10]
    batch.flush()
    assert [len(call) for call in sqs.calls] == [10, 10, 5]
    bodies = [entry["MessageBody"] for call in sqs.calls for entry in call]
    assert bodies == [f"b/k{number:02}" for number in range(25)]
    assert batch.published == 25
    assert batch.last_published == "k24"


def test_a_failed_entry_raises_naming_how_many_got_through() -> None:
    sqs = FakeSqs()
    batch = publisher(sqs)
    for number in range(9):
        batch.add("b", f"k{number}")
    batch.flush()  # a first clean batch of nine
    sqs.fail_ids = {"3", "7"}
    for number in range(10, 19):
        batch.add("b", f"k{number}")
    with pytest.raises(PublishError, match=r"refused 2 of 10 tasks .*; 17 published in all"):
        batch.add("b", "k19")
    assert batch.published == 17
    # Resume after the last key before the first refused one.
    assert batch.last_published == "k12"


def test_batch_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="1 to 10"):
        publisher(FakeSqs(), batch_size=11)
    sqs = FakeSqs()
    batch = publisher(sqs, batch_size=3)
    for number in range(7):
        batch.add("b", str(number))
    batch.flush()
    assert [len(call) for call in sqs.calls] == [3, 3, 1]


def test_decode_body_reads_base64_and_plain_json() -> None:
    assert decode_body('{"a": 1}') == {"a": 1}
    assert decode_body("eyJhIjogMX0=") == {"a": 1}
