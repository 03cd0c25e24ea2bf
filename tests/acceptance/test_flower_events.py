"""Flower sees a ``worker -E`` and its tasks through events and remote control over SQS."""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.faults import Fault
from tests.support.flower import FlowerProcess
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


def api(flower: FlowerProcess, path: str) -> Any:
    response = flower.get(path)
    assert response.status == 200, f"{path}: {response.status} {response.body[:300]!r}"
    return json.loads(response.body.decode())


def control_litter(stack: Stack) -> set[str]:
    """Event and reply queues left on SQS: each belongs to a monitor or a command sender."""
    urls = stack.sqs().list_queues(MaxResults=1000).get("QueueUrls", [])
    names = {url.rsplit("/", 1)[-1] for url in urls}
    return {n for n in names if n.startswith("s3meta-celeryev-") or "-reply-s3meta-pidbox" in n}


def orphaned_subscriptions(stack: Stack) -> set[str]:
    """SNS subscriptions whose SQS queue no longer exists."""
    urls = stack.sqs().list_queues(MaxResults=1000).get("QueueUrls", [])
    names = {url.rsplit("/", 1)[-1] for url in urls}
    subscriptions = boto3.client(
        "sns", endpoint_url=stack.moto.url, region_name="us-east-1"
    ).list_subscriptions()["Subscriptions"]
    return {
        sub["SubscriptionArn"]
        for sub in subscriptions
        if sub["Protocol"] == "sqs" and sub["Endpoint"].rsplit(":", 1)[-1] not in names
    }


def test_flower_shows_the_worker_and_tasks_that_succeed_retry_and_fail(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-flower-ev-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "S3META_TASK_QUEUE": queue}
    name = f"flower{uuid.uuid4().hex[:6]}"
    hostname = f"{name}-{os.getpid()}@{socket.gethostname()}"
    bucket = stack.new_bucket()
    for key in ("seen.txt", "busy.txt", "secret.txt"):
        stack.s3().put_object(Bucket=bucket, Key=key, Body=b"payload")
    # Two throttled HEADs, then success: the task is retried twice (S3META_MAX_RETRIES=3).
    stack.faults.fail("HEAD", f"/{bucket}/busy.txt", Fault(503, "SlowDown", times=2))
    stack.faults.fail("HEAD", f"/{bucket}/secret.txt", Fault(403, "AccessDenied"))
    litter_before = control_litter(stack)
    # Flower first: events sent before its queue is subscribed are not delivered to it.
    flower = FlowerProcess(env, tmp_path / "flower.log")
    try:
        worker = WorkerProcess(
            env, tmp_path / "worker.log", name=name, concurrency=1, cwd=ROOT, extra_args=["-E"]
        )
        try:
            results = {
                key: extract_metadata.apply_async((bucket, key), queue=queue)
                for key in ("seen.txt", "busy.txt", "secret.txt")
            }
            for result in results.values():
                result.get(timeout=60, propagate=False)
            expected = {"seen.txt": "SUCCESS", "busy.txt": "SUCCESS", "secret.txt": "FAILURE"}

            def states_shown() -> bool:
                tasks = api(flower, "/api/tasks")
                return all(
                    tasks.get(results[key].id, {}).get("state") == state
                    for key, state in expected.items()
                )

            wait_for(states_shown, 60, f"Flower to show the tasks as {expected}")
            seen = api(flower, f"/api/task/info/{results['seen.txt'].id}")
            assert seen["name"] == "s3meta.extract_metadata"
            assert seen["worker"] == hostname
            assert seen["runtime"] is not None
            # Flower shows args as Celery's repr of the tuple.
            assert seen["args"] == repr((bucket, "seen.txt")), seen["args"]
            busy = api(flower, f"/api/task/info/{results['busy.txt'].id}")
            assert busy["retries"] == 2
            secret = api(flower, f"/api/task/info/{results['secret.txt'].id}")
            assert "PermanentError" in (secret["exception"] or ""), secret["exception"]
            assert "403" in secret["exception"]

            def worker_listed() -> bool:
                return hostname in api(flower, "/api/workers?refresh=1")

            wait_for(worker_listed, 60, "Flower to list the worker")
        finally:
            worker.stop()
    finally:
        assert flower.stop(timeout=45) == 0, flower.log()
    assert control_litter(stack) <= litter_before, "Flower's event or reply queue was left"
    assert orphaned_subscriptions(stack) == set()
