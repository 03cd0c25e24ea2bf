"""A real worker is stopped, killed, or loses its database mid-task: no task is lost."""

from __future__ import annotations

import os
import re
import signal
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from s3meta.aws.sqs import Queue
from s3meta.domain.attempts import Outcome
from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.faults import TcpProxy
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def uploaded(stack: Stack, key: str) -> str:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key=key, Body=b"payload")
    return bucket


def test_sigterm_lets_the_task_in_flight_finish_before_the_worker_exits(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-signals-{uuid.uuid4().hex[:8]}"
    bucket = uploaded(stack, "slow.txt")
    path = f"/{bucket}/slow.txt"
    stack.faults.slow_down("HEAD", path, seconds=3)
    worker = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue}, tmp_path / "worker.log", name="term"
    )

    result = extract_metadata.apply_async((bucket, "slow.txt"), queue=queue)
    wait_for(lambda: stack.faults.count("HEAD", path) >= 1, 30, "the task to start")
    exit_code = worker.stop(timeout=30)

    assert exit_code == 0, worker.log()
    assert "Warm shutdown" in worker.log()
    assert result.get(timeout=10)["outcome"] == "succeeded"
    assert stack.reader.get(bucket, "slow.txt") is not None


def test_a_worker_killed_mid_task_loses_nothing_another_worker_does_it(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-killed-{uuid.uuid4().hex[:8]}"
    # A short visibility timeout so SQS hands the unacked task on within the test's time.
    timing = {
        "S3META_VISIBILITY_TIMEOUT": "8",
        "S3META_TASK_TIME_LIMIT": "5",
        "S3META_RETRY_BACKOFF_MAX": "2",
    }
    bucket = uploaded(stack, "orphan.txt")
    path = f"/{bucket}/orphan.txt"
    stack.faults.slow_down("HEAD", path, seconds=30)
    # Threads, so that SIGKILL takes the task down with the worker.
    doomed = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue, **timing},
        tmp_path / "doomed.log",
        pool="threads",
        concurrency=1,
        name="doomed",
    )
    result = extract_metadata.apply_async((bucket, "orphan.txt"), queue=queue)
    wait_for(lambda: stack.faults.count("HEAD", path) >= 1, 30, "the task to start")

    os.kill(doomed.pid, signal.SIGKILL)
    doomed.stop(timeout=10)
    assert stack.reader.get(bucket, "orphan.txt") is None
    stack.faults.slow_down("HEAD", path, seconds=0, times=0)
    rescuer = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue, **timing},
        tmp_path / "rescuer.log",
        concurrency=1,
        name="rescuer",
    )
    try:
        assert result.get(timeout=60)["outcome"] == "succeeded"
    finally:
        rescuer.stop()
    assert stack.reader.get(bucket, "orphan.txt") is not None


def test_a_pool_process_killed_mid_task_has_its_task_run_again(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-lost-{uuid.uuid4().hex[:8]}"
    bucket = uploaded(stack, "lost.txt")
    path = f"/{bucket}/lost.txt"
    stack.faults.slow_down("HEAD", path, seconds=30)
    worker = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue},
        tmp_path / "worker.log",
        concurrency=1,
        name="lost",
    )
    try:
        result = extract_metadata.apply_async((bucket, "lost.txt"), queue=queue)
        wait_for(lambda: stack.faults.count("HEAD", path) >= 1, 30, "the task to start")
        children = child_pids(worker.pid)
        assert len(children) == 1
        stack.faults.slow_down("HEAD", path, seconds=0, times=0)

        os.kill(children[0], signal.SIGKILL)

        # acks_late + reject_on_worker_lost: the message goes back to SQS and runs again.
        assert result.get(timeout=60)["outcome"] == "succeeded"
        assert stack.reader.get(bucket, "lost.txt") is not None
        assert "WorkerLostError" in worker.log()
    finally:
        worker.stop()


def child_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_a_database_that_drops_connections_is_retried_until_the_row_is_written(
    stack: Stack, tmp_path: Path
) -> None:
    database = make_url(stack.database_url)
    relay = TcpProxy(database.host or "127.0.0.1", database.port or 3306)
    queue = f"s3meta-dbloss-{uuid.uuid4().hex[:8]}"
    bucket = uploaded(stack, "db-blip.txt")
    worker = WorkerProcess(
        {
            **stack.env,
            "S3META_TASK_QUEUE": queue,
            # The metadata goes through the relay; Celery's results go straight to MariaDB.
            "S3META_DATABASE_URL": database.set(port=relay.port).render_as_string(
                hide_password=False
            ),
            "S3META_RESULT_BACKEND": f"db+{stack.database_url}",
        },
        tmp_path / "worker.log",
        concurrency=1,
        name="dbloss",
    )
    try:
        # The first attempt's write and its attempt record both find the database gone.
        relay.drop_next(2)

        result = extract_metadata.apply_async((bucket, "db-blip.txt"), queue=queue)

        assert result.get(timeout=60)["attempt"] == 2
        assert relay.dropped == 2
        assert stack.reader.get(bucket, "db-blip.txt") is not None
        assert [a.outcome for a in stack.reader.attempts(bucket, "db-blip.txt")] == [
            Outcome.SUCCEEDED
        ]
        assert "could not record retrying attempt" in worker.log()
        assert "DatabaseUnavailable" in worker.log()
    finally:
        worker.stop()
        relay.stop()


def test_sigterm_returns_the_reserved_tasks_to_the_queue_at_once_and_only_once(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-reserved-{uuid.uuid4().hex[:8]}"
    bucket = uploaded(stack, "slow.txt")
    path = f"/{bucket}/slow.txt"
    stack.faults.slow_down("HEAD", path, seconds=3)
    worker = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue},
        tmp_path / "worker.log",
        name="reserve",
        concurrency=1,
    )
    waiting = [f"waiting-{n}.txt" for n in range(3)]
    try:
        extract_metadata.apply_async((bucket, "slow.txt"), queue=queue)
        wait_for(lambda: stack.faults.count("HEAD", path) >= 1, 30, "the slow task to start")
        for key in waiting:
            extract_metadata.apply_async((bucket, key), queue=queue)
        tasks = Queue(stack.sqs(), queue)
        # The one process is busy: the worker holds the three as reserved, unacked.
        wait_for(lambda: tasks.depth().in_flight == 4, 30, "the worker to reserve the tasks")
    finally:
        exit_code = worker.stop(timeout=30)

    assert exit_code == 0, worker.log()
    depth = tasks.depth()
    assert (depth.visible, depth.in_flight) == (3, 0), worker.log()
    # Reserved, or still in the answer of the long poll the stopping worker read at cancel.
    returned = re.findall(r"returned (\d+) of \1 reserved message", worker.log())
    released = re.findall(r"made (\d+) message\(s\) received after the consumer", worker.log())
    assert sum(map(int, returned + released)) == 3, worker.log()
