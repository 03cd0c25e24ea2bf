"""Celery events and remote control over SQS + SNS: a real ``worker -E`` against moto's server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from celery.events import EventReceiver

from s3meta.deployment.broker import Kind, kind_of
from tasks import extract_metadata
from tasks.app import app
from tests.support.database import ROOT
from tests.support.faults import Fault
from tests.support.processes import WorkerProcess, wait_for
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

REPLY_TIMEOUT = 20.0
EVENT_TIMEOUT = 60.0
# Short polls, so that a stopped receiver notices within a couple of seconds.
QUICK_POLLS = {"wait_time_seconds": 1, "polling_interval": 0.2}


@dataclass
class EventsWorker:
    process: WorkerProcess
    hostname: str
    queue: str
    env: dict[str, str]


@dataclass
class Collected:
    events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.events.append(event)

    def types_for(self, task_id: str) -> set[str]:
        with self.lock:
            return {e["type"] for e in self.events if e.get("uuid") == task_id}


@pytest.fixture(scope="module")
def events_worker(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EventsWorker]:
    """A worker with task events on (``-E``), consuming a task queue of its own."""
    queue = f"s3meta-test-ev-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "S3META_TASK_QUEUE": queue}
    name = f"events{uuid.uuid4().hex[:6]}"
    process = WorkerProcess(
        env,
        tmp_path_factory.mktemp("events-worker") / "worker.log",
        name=name,
        concurrency=1,
        cwd=ROOT,
        extra_args=["-E"],
    )
    try:
        yield EventsWorker(process, f"{name}-{os.getpid()}@{socket.gethostname()}", queue, env)
    finally:
        process.stop()


def sqs_names(stack: Stack) -> set[str]:
    urls = stack.sqs().list_queues(MaxResults=1000).get("QueueUrls", [])
    return {url.rsplit("/", 1)[-1] for url in urls}


def subscribed_queues(stack: Stack) -> set[str]:
    sns = boto3.client("sns", endpoint_url=stack.moto.url, region_name="us-east-1")
    subscriptions = sns.list_subscriptions().get("Subscriptions", [])
    return {sub["Endpoint"].rsplit(":", 1)[-1] for sub in subscriptions}


def control_queues(names: set[str]) -> set[str]:
    return {name for name in names if kind_of(name) is not None}


def test_the_celery_inspect_ping_command_gets_an_answer_from_the_worker(
    stack: Stack, events_worker: EventsWorker
) -> None:
    before = control_queues(sqs_names(stack))
    command = [
        sys.executable, "-m", "celery", "-A", "tasks", "inspect", "ping",
        "--destination", events_worker.hostname, "--timeout", str(REPLY_TIMEOUT),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, **events_worker.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=REPLY_TIMEOUT + 40,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert events_worker.hostname in done.stdout
    assert "pong" in done.stdout
    # The command's reply queue went with it.
    assert control_queues(sqs_names(stack)) - before == set()


def test_inspect_and_control_commands_reach_the_worker_and_answer(
    events_worker: EventsWorker,
) -> None:
    destination = [events_worker.hostname]
    with app.connection_for_write() as connection:
        inspect = app.control.inspect(
            destination=destination, timeout=REPLY_TIMEOUT, connection=connection
        )
        stats = inspect.stats()
        registered = inspect.registered()
        active = inspect.active()
        rate = app.control.rate_limit(
            "s3meta.extract_metadata",
            "600/m",
            destination=destination,
            reply=True,
            timeout=REPLY_TIMEOUT,
            connection=connection,
        )
        grown = app.control.pool_grow(
            1, destination=destination, reply=True, timeout=REPLY_TIMEOUT, connection=connection
        )
        shrunk = app.control.pool_shrink(
            1, destination=destination, reply=True, timeout=REPLY_TIMEOUT, connection=connection
        )
        revoked = app.control.revoke(
            str(uuid.uuid4()),
            destination=destination,
            reply=True,
            timeout=REPLY_TIMEOUT,
            connection=connection,
        )

    assert stats is not None
    assert events_worker.hostname in stats
    assert registered is not None
    assert "s3meta.extract_metadata" in registered[events_worker.hostname]
    assert active == {events_worker.hostname: []}
    for answer in (rate, grown, shrunk, revoked):
        assert [list(reply) for reply in answer] == [[events_worker.hostname]]
        assert "ok" in answer[0][events_worker.hostname], answer


def test_a_monitor_receives_the_events_of_a_task_that_succeeds_and_one_that_fails(
    stack: Stack, events_worker: EventsWorker
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="fine.txt", Body=b"ok")
    stack.s3().put_object(Bucket=bucket, Key="denied.txt", Body=b"no")
    stack.faults.fail("HEAD", f"/{bucket}/denied.txt", Fault(403, "AccessDenied"))
    collected = Collected()
    connection = app.connection_for_read(transport_options=QUICK_POLLS)
    receiver = EventReceiver(connection, handlers={"*": collected.add}, app=app)
    listener = threading.Thread(
        target=receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": False}
    )
    listener.daemon = True
    listener.start()
    event_queue = receiver.queue.name
    try:
        # The receiver subscribes its queue when it starts consuming; events sent earlier
        # are not for it.
        wait_for(
            lambda: _queue_subscribed(stack, event_queue), 30, "the event queue's subscription"
        )
        ok = extract_metadata.apply_async((bucket, "fine.txt"), queue=events_worker.queue)
        failing = extract_metadata.apply_async((bucket, "denied.txt"), queue=events_worker.queue)
        wanted = {ok.id: {"task-received", "task-started", "task-succeeded"}}
        wanted[failing.id] = {"task-received", "task-started", "task-failed"}
        wait_for(
            lambda: all(types <= collected.types_for(tid) for tid, types in wanted.items()),
            EVENT_TIMEOUT,
            "the task events",
        )
    finally:
        receiver.should_stop = True
        listener.join(timeout=30)
        connection.release()

    assert not listener.is_alive()
    succeeded = [e for e in collected.events if e["type"] == "task-succeeded"]
    assert [e["hostname"] for e in succeeded if e["uuid"] == ok.id] == [events_worker.hostname]
    failed = [e for e in collected.events if e["type"] == "task-failed"]
    assert any("AccessDenied" in e["exception"] or "403" in e["exception"] for e in failed)
    # The monitor's queue and its subscription went when it stopped.
    sqs_name = event_queue.replace(".", "-")
    assert kind_of(sqs_name) is Kind.EVENTS
    assert sqs_name not in sqs_names(stack)
    assert sqs_name not in subscribed_queues(stack)


def _queue_subscribed(stack: Stack, kombu_name: str) -> bool:
    return kombu_name.replace(".", "-") in subscribed_queues(stack)


def test_a_worker_that_stops_leaves_no_pidbox_queue_or_subscription(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = f"brief{uuid.uuid4().hex[:6]}"
    env = {**stack.env, "S3META_TASK_QUEUE": f"s3meta-test-ev-{uuid.uuid4().hex[:8]}"}
    worker = WorkerProcess(
        env, tmp_path_factory.mktemp("brief") / "worker.log", name=name, concurrency=1, cwd=ROOT
    )
    # One control queue per worker process (tasks.control).
    node = f"{name}-{os.getpid()}_{socket.gethostname()}"
    pidbox = f"{node}-{worker.pid}-s3meta-pidbox".replace(".", "-")
    try:
        deadline = time.monotonic() + 30
        while pidbox not in subscribed_queues(stack) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert pidbox in sqs_names(stack)
        assert pidbox in subscribed_queues(stack)
    finally:
        code = worker.stop()

    assert code == 0, worker.log()
    assert pidbox not in sqs_names(stack)
    assert pidbox not in subscribed_queues(stack)
