"""Flower sees a ``worker -E`` and its tasks through events and remote control over SQS."""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.flower import FlowerProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def api(flower: FlowerProcess, path: str) -> Any:
    response = flower.get(path)
    assert response.status == 200, f"{path}: {response.status} {response.body[:300]!r}"
    return json.loads(response.body.decode())


def test_a_worker_with_events_and_its_task_show_up_in_flower(stack: Stack, tmp_path: Path) -> None:
    queue = f"s3meta-flower-ev-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "S3META_TASK_QUEUE": queue}
    name = f"flower{uuid.uuid4().hex[:6]}"
    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="seen.txt", Body=b"payload")
    # Flower first: events sent before its queue is subscribed are not delivered to it.
    flower = FlowerProcess(env, tmp_path / "flower.log")
    try:
        worker = WorkerProcess(
            env, tmp_path / "worker.log", name=name, concurrency=1, cwd=ROOT, extra_args=["-E"]
        )
        try:
            result = extract_metadata.apply_async((bucket, "seen.txt"), queue=queue)
            assert result.get(timeout=60)["outcome"] == "succeeded"

            def task_succeeded() -> bool:
                tasks = api(flower, "/api/tasks")
                return bool(tasks.get(result.id, {}).get("state") == "SUCCESS")

            wait_for(task_succeeded, 60, "Flower to show the task as SUCCESS")
            info = api(flower, f"/api/task/info/{result.id}")
            assert info["name"] == "s3meta.extract_metadata"
            assert info["worker"] == hostname
            assert info["runtime"] is not None

            def worker_listed() -> bool:
                return hostname in api(flower, "/api/workers?refresh=1")

            wait_for(worker_listed, 60, "Flower to list the worker")
        finally:
            worker.stop()
    finally:
        assert flower.stop(timeout=45) == 0, flower.log()
