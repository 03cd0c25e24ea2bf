"""Workers that share a node name: neither stops the other, and a vanished control queue returns."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import boto3
import pytest

from s3meta.deployment.broker import Kind, kind_of
from tests.support.database import ROOT
from tests.support.processes import WorkerProcess, wait_for
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

PING_TIMEOUT = 10.0


def ping(env: dict[str, str], destination: str) -> str:
    """``celery inspect ping`` for ``destination``: its output."""
    command = [
        sys.executable, "-m", "celery", "-A", "tasks", "inspect", "ping",
        "--destination", destination, "--timeout", str(PING_TIMEOUT),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PING_TIMEOUT + 60,
        check=False,
    )
    return done.stdout + done.stderr


def wait_in(
    worker: WorkerProcess, condition: Callable[[], bool], timeout: float, what: str
) -> None:
    """``wait_for``, failing with ``worker``'s log."""
    try:
        wait_for(condition, timeout, what)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{worker.log()}") from None


def pidbox_queues(stack: Stack, node: str) -> list[str]:
    """The SQS control queues of workers named ``node``."""
    prefix = node.replace("@", "_").replace(".", "-")
    urls = stack.sqs().list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    names = [url.rsplit("/", 1)[-1] for url in urls]
    return [name for name in names if kind_of(name) is Kind.PIDBOX]


def subscribed(stack: Stack) -> set[str]:
    """The queues SNS delivers to."""
    sns = boto3.client("sns", endpoint_url=stack.moto.url, region_name="us-east-1")
    subscriptions = sns.list_subscriptions().get("Subscriptions", [])
    return {sub["Endpoint"].rsplit(":", 1)[-1] for sub in subscriptions}


@pytest.fixture
def env(stack: Stack) -> dict[str, str]:
    return {**stack.env, "S3META_TASK_QUEUE": f"s3meta-test-nm-{uuid.uuid4().hex[:8]}"}


@pytest.fixture
def node() -> str:
    return f"twin{uuid.uuid4().hex[:6]}@{socket.gethostname()}"


@pytest.fixture
def twins(
    env: dict[str, str], node: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    logs = tmp_path_factory.mktemp("twins")
    first = WorkerProcess(env, logs / "first.log", hostname=node, concurrency=1, cwd=ROOT)
    try:
        second = WorkerProcess(env, logs / "second.log", hostname=node, concurrency=1, cwd=ROOT)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def test_stopping_one_of_two_workers_with_the_same_name_leaves_the_other_running(
    stack: Stack, env: dict[str, str], node: str, twins: tuple[WorkerProcess, WorkerProcess]
) -> None:
    first, second = twins
    wait_for(lambda: len(pidbox_queues(stack, node)) == 2, 30, "a control queue per worker")

    assert first.stop() == 0, first.log()

    assert pidbox_queues(stack, node) != [], f"FIRST\n{first.log()}\nSECOND\n{second.log()}"
    assert "pong" in ping(env, node)
    assert second.describe().endswith("running"), second.log()
    assert "Unrecoverable error" not in second.log()


def test_a_worker_warns_when_another_live_worker_has_its_name(
    node: str, twins: tuple[WorkerProcess, WorkerProcess]
) -> None:
    _, second = twins

    wait_in(second, lambda: "same node name" in second.log(), 30, "the duplicate-name warning")

    warnings = [line for line in second.log().splitlines() if "same node name" in line]
    assert len(warnings) == 1
    assert node in warnings[0]
    assert "--hostname" in warnings[0]


def test_a_worker_whose_control_queue_was_deleted_creates_it_again_and_answers(
    stack: Stack, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = f"lone{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    log = tmp_path_factory.mktemp("lone") / "worker.log"
    worker = WorkerProcess(env, log, hostname=node, concurrency=1, cwd=ROOT)
    try:
        wait_for(lambda: len(pidbox_queues(stack, node)) == 1, 30, "the worker's control queue")
        (name,) = pidbox_queues(stack, node)
        url = stack.sqs().get_queue_url(QueueName=name)["QueueUrl"]
        stack.sqs().delete_queue(QueueUrl=url)

        wait_in(worker, lambda: "was deleted" in worker.log(), 60, "the worker to notice")
        wait_in(worker, lambda: len(pidbox_queues(stack, node)) == 1, 60, "the queue to return")
        assert "pong" in ping(env, node)
        assert worker.describe().endswith("running"), worker.log()
        assert name in subscribed(stack)
    finally:
        code = worker.stop()
    assert code == 0, worker.log()
    # Its queue and subscription went when it stopped, as for any worker.
    assert pidbox_queues(stack, node) == []
    assert name not in subscribed(stack)
