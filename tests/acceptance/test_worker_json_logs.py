"""A real worker with ``S3META_LOG_FORMAT=json``: each line a task logs names that task."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from s3meta.processes import WorkerProcess
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.faults import Fault
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def test_every_line_logged_while_a_task_runs_is_json_with_its_id_bucket_and_key(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-json-{uuid.uuid4().hex[:8]}"
    bucket = stack.new_bucket()
    key = "logs/one file.txt"
    stack.s3().put_object(Bucket=bucket, Key=key, Body=b"payload")
    # One throttled HeadObject: the task also logs its warning and Celery's retry line.
    stack.faults.fail("HEAD", f"/{bucket}/{key}", Fault(503, "SlowDown", times=1))
    worker = WorkerProcess(
        {**stack.env, "S3META_TASK_QUEUE": queue, "S3META_LOG_FORMAT": "json"},
        tmp_path / "worker.log",
        concurrency=1,
        name="json",
        cwd=ROOT,
    )
    try:
        result = extract_metadata.apply_async((bucket, key), queue=queue)
        assert result.get(timeout=60)["attempt"] == 2
    finally:
        assert worker.stop() == 0, worker.log()

    lines = worker.log().splitlines()
    first = next(i for i, line in enumerate(lines) if result.id in line and "received" in line)
    last = next(i for i, line in enumerate(lines) if result.id in line and "succeeded" in line)
    during = [parse(line) for line in lines[first : last + 1]]
    for entry in during:
        assert (entry["task_id"], entry["bucket"], entry["key"]) == (result.id, bucket, key), entry
        assert entry["task_name"] == "s3meta.extract_metadata"
        assert {"time", "level", "logger", "message", "process"} <= set(entry)
    messages = [entry["message"] for entry in during]
    assert any("retrying in" in message for message in messages)
    assert sum("received" in message for message in messages) == 2


def parse(line: str) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads(line)
    except ValueError:
        pytest.fail(f"not a JSON line: {line!r}")
    return parsed
