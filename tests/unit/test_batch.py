"""Batched publishing: ten to a request, in order, partial failures reported, and messages
that are Celery's own, built for a fraction of the CPU."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from celery import Celery
from celery.signals import before_task_publish

from s3meta.config import load_settings
from s3meta.errors import InvalidTaskArguments, PublishError
from tasks.app import celery_config
from tasks.batch import BatchPublisher, EncodedTask, KombuSqsEncoder, send_tasks
from tasks.publisher import PUBLISH_RETRY_POLICY, retry_delays
from tests.support.messages import decode_body

URL = "http://sqs.local/123/tasks"


class FakeSqs:
    """SendMessageBatch refusing the entries ``fail_ids`` names (as SQS's fault unless
    ``sender_fault``), each ``fail_times`` times or for good, after raising ``errors``."""

    def __init__(
        self,
        fail_ids: set[str] | None = None,
        *,
        fail_times: int | None = None,
        sender_fault: bool = False,
        errors: list[Exception] | None = None,
        silent_ids: set[str] | None = None,
    ) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail_ids = fail_ids or set()
        self.fail_times = fail_times
        self.sender_fault = sender_fault
        self.errors = errors or []
        self.silent_ids = silent_ids or set()  # in neither list of the answer
        self._failed: dict[str, int] = {}

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        assert QueueUrl == URL
        self.calls.append(Entries)
        if self.errors:
            raise self.errors.pop(0)
        failed, ok = [], []
        for entry in Entries:
            if entry["Id"] in self.silent_ids:
                self.silent_ids.discard(entry["Id"])
            elif entry["Id"] in self.fail_ids and self._fails_again(entry["Id"]):
                failed.append(
                    {
                        "Id": entry["Id"],
                        "Code": "InvalidParameterValue" if self.sender_fault else "InternalError",
                        "Message": "boom",
                        "SenderFault": self.sender_fault,
                    }
                )
            else:
                ok.append({"Id": entry["Id"]})
        return {"Successful": ok, "Failed": failed}

    def _fails_again(self, entry_id: str) -> bool:
        self._failed[entry_id] = self._failed.get(entry_id, 0) + 1
        return self.fail_times is None or self._failed[entry_id] <= self.fail_times


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


def tasks(count: int, body: str = "b") -> list[EncodedTask]:
    return [
        EncodedTask(task_id=f"t{n}", queue="tasks", queue_url=URL, body=f"{body}/{n}")
        for n in range(count)
    ]


def sent(sqs: FakeSqs) -> list[list[str]]:
    """The bodies of each request, in order."""
    return [[entry["MessageBody"] for entry in call] for call in sqs.calls]


def client_error(status: int, code: str) -> ClientError:
    # The stubs want every ResponseMetadata key; botocore itself needs none of them.
    response: Any = {
        "Error": {"Code": code, "Message": "no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "SendMessageBatch")


def test_entries_sqs_refused_on_its_side_are_sent_again_after_each_wait() -> None:
    sqs = FakeSqs({"3", "12"}, fail_times=2)
    waits: list[float] = []

    reasons = send_tasks(sqs, tasks(15), (0.2, 0.7, 1.2), waits.append)  # type: ignore[arg-type]

    assert reasons == [None] * 15
    assert waits == [0.2, 0.7]
    assert sent(sqs) == [
        [f"b/{n}" for n in range(10)],
        [f"b/{n}" for n in range(10, 15)],
        ["b/3", "b/12"],
        ["b/3", "b/12"],
    ]


def test_entries_still_refused_after_the_last_wait_say_why_and_the_rest_are_sent() -> None:
    sqs = FakeSqs({"1"})
    waits: list[float] = []

    reasons = send_tasks(sqs, tasks(3), (0.2, 0.7), waits.append)  # type: ignore[arg-type]

    assert reasons == [None, "SQS refused it (InternalError: boom)", None]
    assert waits == [0.2, 0.7]
    assert sent(sqs) == [["b/0", "b/1", "b/2"], ["b/1"], ["b/1"]]


def test_an_entry_refused_as_the_senders_fault_is_not_sent_again() -> None:
    sqs = FakeSqs({"0"}, sender_fault=True)
    waits: list[float] = []

    reasons = send_tasks(sqs, tasks(2), (0.2,), waits.append)  # type: ignore[arg-type]

    assert reasons == ["SQS refused it (InvalidParameterValue: boom)", None]
    assert (waits, len(sqs.calls)) == ([], 1)


def test_a_request_that_failed_on_a_blip_is_sent_again_but_a_refused_one_is_not() -> None:
    sqs = FakeSqs(errors=[client_error(500, "InternalError")])
    waits: list[float] = []

    assert send_tasks(sqs, tasks(2), (0.2,), waits.append) == [None, None]  # type: ignore[arg-type]
    assert (waits, sent(sqs)) == ([0.2], [["b/0", "b/1"], ["b/0", "b/1"]])

    denied = FakeSqs(errors=[client_error(403, "AccessDenied")])
    reasons = send_tasks(denied, tasks(1), (0.2,), waits.append)  # type: ignore[arg-type]

    assert reasons == ["SendMessageBatch failed (AccessDenied: no)"]
    assert len(denied.calls) == 1


def test_an_entry_sqs_says_nothing_about_is_sent_again() -> None:
    sqs = FakeSqs(silent_ids={"1"})

    assert send_tasks(sqs, tasks(2), (0.0,), lambda _: None) == [None, None]  # type: ignore[arg-type]
    assert sent(sqs) == [["b/0", "b/1"], ["b/1"]]


def test_a_request_carries_at_most_256_kib_of_messages() -> None:
    sqs = FakeSqs()
    big = tasks(5, body="x" * 100_000)

    send_tasks(sqs, big)  # type: ignore[arg-type]

    assert [len(call) for call in sqs.calls] == [2, 2, 1]


def test_the_publish_retry_policy_waits_longer_each_time_up_to_its_bound() -> None:
    assert retry_delays(PUBLISH_RETRY_POLICY) == pytest.approx((0.2, 0.7, 1.2))
    policy = {"max_retries": 4, "interval_start": 1, "interval_step": 1, "interval_max": 2.5}
    assert retry_delays(policy) == (1, 2, 2.5, 2.5)


def test_a_task_body_reads_back_from_base64_and_plain_json() -> None:
    assert decode_body('{"a": 1}') == {"a": 1}
    assert decode_body("eyJhIjogMX0=") == {"a": 1}


# The encoder: Celery's message for every call, built from one -----------------------------


@pytest.fixture
def celery_app(fake_aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Celery:
    """A Celery app configured as s3meta's, on SQS in process; ``extract_metadata`` is a
    shared task, so every app has it."""
    monkeypatch.setenv("S3META_DATABASE_URL", f"sqlite:///{tmp_path / 'meta.db'}")
    monkeypatch.setenv("S3META_TASK_QUEUE", "encoded-tasks")
    app = Celery("encoding", set_as_current=False)
    app.conf.update(celery_config(load_settings()))
    return app


@pytest.fixture
def encoder(celery_app: Celery) -> Iterator[KombuSqsEncoder]:
    made = KombuSqsEncoder(celery_app, celery_app.tasks["s3meta.extract_metadata"])
    yield made
    made.close()


# Per call: its id (and what repeats it) and kombu's delivery tag.
PER_CALL = {
    ("headers", "id"),
    ("headers", "root_id"),
    ("properties", "correlation_id"),
    ("properties", "delivery_tag"),
}


def fields(task: EncodedTask) -> dict[tuple[str, str], object]:
    """Every field of the kombu message in ``task``, the payload decoded, ids left out."""
    message = decode_body(task.body)
    found: dict[tuple[str, str], object] = {
        (part, name): value
        for part in ("headers", "properties")
        for name, value in message[part].items()
        if (part, name) not in PER_CALL
    }
    found["message", "keys"] = list(message)
    found["headers", "order"] = list(message["headers"])
    found["properties", "order"] = list(message["properties"])
    for name in ("content-type", "content-encoding"):
        found["message", name] = message[name]
    found["message", "payload"] = json.loads(base64.b64decode(message["body"]))
    found["sqs", "request"] = (task.queue, task.queue_url, task.delay_seconds)
    found["sqs", "attributes"] = task.message_attributes
    return found


CALLS = [
    ("bucket-a", "plain.txt", {}),
    ("bucket-a", "with space/ünï 日本 ✓.txt", {"event_name": "ObjectCreated:Put", "size": 12}),
    ("bucket.b", 'it\'s "quoted" \\ and\nnewline', {"etag": "abc", "sequencer": "0A"}),
    (
        "bucket-a",
        "x" * 1024,  # its repr is longer than Celery shows: truncated as Celery truncates it
        {
            "event_name": "ObjectRemoved:Delete",
            "event_time": "2026-11-20T10:15:30.123Z",
            "version_id": "v1",
        },
    ),
]


@pytest.mark.parametrize(("bucket", "key", "event"), CALLS)
def test_an_encoded_task_is_celerys_message_field_by_field_but_for_its_id(
    encoder: KombuSqsEncoder, bucket: str, key: str, event: dict[str, Any]
) -> None:
    assert encoder.shortcut_blockers == []

    quick = encoder.encode(bucket, key, **event)
    celerys = encoder.encode_through_celery(bucket, key, **event)

    assert fields(quick) == fields(celerys)
    headers = decode_body(quick.body)["headers"]
    properties = decode_body(quick.body)["properties"]
    assert headers["id"] == headers["root_id"] == properties["correlation_id"] == quick.task_id
    assert quick.task_id != celerys.task_id
    assert properties["delivery_tag"] != decode_body(celerys.body)["properties"]["delivery_tag"]


def test_a_task_encoded_in_another_thread_names_that_threads_reply_queue(
    encoder: KombuSqsEncoder, celery_app: Celery
) -> None:
    found: list[EncodedTask] = []
    other = threading.Thread(target=lambda: found.append(encoder.encode("bucket-a", "k")))
    other.start()
    other.join()

    (task,) = found
    assert decode_body(task.body)["properties"]["reply_to"] != celery_app.thread_oid
    assert fields(task).keys() == fields(encoder.encode("bucket-a", "k")).keys()


def test_arguments_no_run_could_use_are_refused_before_any_message_is_made(
    encoder: KombuSqsEncoder,
) -> None:
    with pytest.raises(InvalidTaskArguments, match="invalid bucket name 'Bad_Bucket'"):
        encoder.encode("Bad_Bucket", "k")
    with pytest.raises(InvalidTaskArguments, match="key is empty"):
        encoder.encode_through_celery("bucket-a", "")


def test_with_a_publish_signal_receiver_every_task_goes_through_celery(
    celery_app: Celery,
) -> None:
    seen: list[str] = []

    def receiver(headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers["id"])

    before_task_publish.connect(receiver)
    try:
        encoder = KombuSqsEncoder(celery_app, celery_app.tasks["s3meta.extract_metadata"])
        task = encoder.encode("bucket-a", "k")
        encoder.close()
    finally:
        before_task_publish.disconnect(receiver)

    assert encoder.shortcut_blockers == ["celery.signals.before_task_publish has receivers"]
    assert seen[-1] == task.task_id  # the receiver saw this very task
