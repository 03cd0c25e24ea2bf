"""A worker checks its database at start, and an unreachable one is one line per attempt."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from db.migrations import head_revision
from s3meta.processes import WorkerProcess, free_port, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT, migrate, scratch_mysql_database
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def test_a_worker_whose_database_is_unreachable_warns_at_start_and_logs_no_traceback(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-nodb-{uuid.uuid4().hex[:8]}"
    env = {
        **stack.env,
        "S3META_TASK_QUEUE": queue,
        # Nothing listens there: connections are refused, as with RDS down.
        "S3META_DATABASE_URL": f"mysql+pymysql://root@127.0.0.1:{free_port()}/gone",
        "S3META_MAX_RETRIES": "2",
        "S3META_RETRY_BACKOFF": "1",
    }
    worker = WorkerProcess(env, tmp_path / "worker.log", name="nodb")
    try:
        start = worker.log()
        assert "WARNING tasks.startup" in start
        assert "database unreachable at mysql+pymysql://root@127.0.0.1" in start
        assert "tasks will retry until it answers" in start

        extract_metadata.apply_async(("bucket", "key"), queue=queue)
        wait_for(lambda: "failed after 3 attempts" in worker.log(), 90, "the last attempt")
        # The last result write fails too, after Celery's own three retries.
        wait_for(lambda: "could not record failed attempt" in worker.log(), 60, "the record")
        log = worker.log()
    finally:
        worker.stop(timeout=20)

    assert "Traceback" not in log
    lines = log.splitlines()
    retries = [line for line in lines if "Failed operation" in line]
    assert retries, log
    assert all("Can't connect to MySQL server" in line for line in retries)
    # Before: about 200 lines per failed write, thousands for one task.
    assert len(lines) < 100, log


def test_a_worker_refuses_to_start_when_the_schema_is_behind_head(
    stack: Stack, tmp_path: Path
) -> None:
    with scratch_mysql_database() as url:
        migrate(url, "0001")
        env = {**stack.env, "S3META_DATABASE_URL": url}
        done = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool", "solo",
             "--loglevel", "INFO", "--hostname", f"behind-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    assert "ready." not in output
    errors = [line for line in output.splitlines() if " ERROR " in line]
    assert len(errors) == 1, output
    assert (
        f"schema behind: revision 0001, head is {head_revision()}; run `alembic upgrade head`"
        in errors[0]
    )
    assert "the worker will not start" in errors[0]


def test_a_worker_on_a_migrated_database_says_its_schema_is_at_head(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-head-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess({**stack.env, "S3META_TASK_QUEUE": queue}, tmp_path / "w.log")
    try:
        assert "schema at head" in worker.log()
    finally:
        worker.stop(timeout=20)
