"""A real Flower process on the SQS broker (moto's server): auth, queue depths, broker page."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3meta.processes import MotoServer, free_port
from tests.support.database import ROOT
from tests.support.flower import USER, FlowerProcess, flower_command, flower_env
from tests.support.stack import AWS_TEST_ENV

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

QUEUED = 5  # visible messages put on the task queue


def queue_names() -> dict[str, str]:
    """Fresh queue names, so that no worker reads them and no other test fills them."""
    suffix = uuid.uuid4().hex[:8]
    return {
        "S3META_TASK_QUEUE": f"s3meta-flower-tasks-{suffix}",
        "S3META_EVENTS_QUEUE": f"s3meta-flower-events-{suffix}",
        "S3META_DEAD_LETTER_QUEUE": f"s3meta-flower-dlq-{suffix}",
    }


def base_env(moto: MotoServer, tmp_path: Path) -> dict[str, str]:
    return {
        **AWS_TEST_ENV,
        "AWS_ENDPOINT_URL": moto.url,
        # Flower never writes results; a scratch path keeps the default file out of the tree.
        "S3META_DATABASE_URL": f"sqlite:///{tmp_path / 'flower.db'}",
    }


@pytest.fixture(scope="module")
def queues() -> dict[str, str]:
    return queue_names()


@pytest.fixture(scope="module")
def sqs(moto_server: MotoServer) -> SQSClient:
    return boto3.client(
        "sqs",
        endpoint_url=moto_server.url,
        region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def flower(
    moto_server: MotoServer,
    queues: dict[str, str],
    sqs: SQSClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FlowerProcess]:
    """Flower on a task queue holding 5 visible, 1 in-flight and 1 delayed message.

    The dead-letter queue is left missing on purpose.
    """
    task_url = sqs.create_queue(QueueName=queues["S3META_TASK_QUEUE"])["QueueUrl"]
    sqs.create_queue(QueueName=queues["S3META_EVENTS_QUEUE"])
    for number in range(QUEUED + 1):
        sqs.send_message(QueueUrl=task_url, MessageBody=f"task {number}")
    taken = sqs.receive_message(QueueUrl=task_url, MaxNumberOfMessages=1, VisibilityTimeout=600)
    assert len(taken.get("Messages", [])) == 1
    sqs.send_message(QueueUrl=task_url, MessageBody="later", DelaySeconds=600)
    tmp_path = tmp_path_factory.mktemp("flower")
    process = FlowerProcess({**base_env(moto_server, tmp_path), **queues}, tmp_path / "flower.log")
    yield process
    process.stop()


def as_json(body: bytes) -> Any:
    return json.loads(body.decode())


def test_the_api_answers_401_without_credentials_or_with_wrong_ones(flower: FlowerProcess) -> None:
    for path in ("/api/queues/length", "/api/workers", "/api/tasks", "/broker"):
        assert flower.get(path, auth=None).status == 401, path
        assert flower.get(path, auth=(USER, "wrong")).status == 401, path
    assert flower.get("/api/tasks").status == 200


def test_queue_lengths_give_each_queue_visible_in_flight_and_delayed(
    flower: FlowerProcess, queues: dict[str, str]
) -> None:
    response = flower.get("/api/queues/length")

    assert response.status == 200, flower.log()
    listed = {queue["name"]: queue for queue in as_json(response.body)["active_queues"]}
    assert listed[queues["S3META_TASK_QUEUE"]] == {
        "name": queues["S3META_TASK_QUEUE"],
        "role": "task",
        "exists": True,
        "messages": QUEUED + 2,
        "messages_ready": QUEUED,
        "messages_unacknowledged": 1,
        "messages_delayed": 1,
    }
    events = listed[queues["S3META_EVENTS_QUEUE"]]
    assert (events["role"], events["exists"], events["messages"]) == ("events", True, 0)
    missing = listed[queues["S3META_DEAD_LETTER_QUEUE"]]
    assert (missing["role"], missing["exists"], missing["messages"]) == ("dead-letter", False, None)


def test_the_broker_page_shows_the_queues(flower: FlowerProcess, queues: dict[str, str]) -> None:
    response = flower.get("/broker")

    assert response.status == 200, flower.log()
    page = response.body.decode()
    assert "not supported" not in page
    for name in queues.values():
        assert f"<td>{name}</td>" in page
    # Messages, unacked, ready of the task queue, in the page's column order.
    row = page.split(f"<td>{queues['S3META_TASK_QUEUE']}</td>", 1)[1].split("</tr>", 1)[0]
    cells = [cell.split(">", 1)[1] for cell in row.split("</td>")[:3]]
    assert cells == [str(QUEUED + 2), "1", str(QUEUED)]


@pytest.mark.parametrize(
    ("basic_auth", "message"),
    [
        (None, "FLOWER_BASIC_AUTH is not set"),
        ("", "FLOWER_BASIC_AUTH is not set"),
        ("ops:", "every entry must be user:password"),
    ],
)
def test_flower_refuses_to_start_without_credentials(
    moto_server: MotoServer, tmp_path: Path, basic_auth: str | None, message: str
) -> None:
    env = {**base_env(moto_server, tmp_path), **queue_names()}
    if basic_auth is not None:
        env["FLOWER_BASIC_AUTH"] = basic_auth

    done = subprocess.run(
        flower_command(free_port()),
        cwd=ROOT,
        env=flower_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("flower: FLOWER_BASIC_AUTH"), done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_sigterm_stops_flower(moto_server: MotoServer, tmp_path: Path) -> None:
    process = FlowerProcess(
        {**base_env(moto_server, tmp_path), **queue_names()}, tmp_path / "flower.log"
    )
    assert process.get("/api/queues/length").status == 200
    assert process.stop(timeout=30) == 0, process.log()
