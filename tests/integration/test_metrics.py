"""CloudWatch metrics from a real worker, read back from moto's server."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from s3meta.domain.metrics import EVENT_TO_ROW_LAG, Counter
from s3meta.processes import WorkerProcess, wait_for
from tasks import extract_metadata
from tests.support.database import ROOT
from tests.support.faults import Fault
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV, Stack

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

RESULT_TIMEOUT = 60
METRICS_TIMEOUT = 30


def cloudwatch(url: str) -> CloudWatchClient:
    return boto3.client(
        "cloudwatch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def totals(client: CloudWatchClient, namespace: str) -> dict[str, float]:
    """Each metric's Sum over the last hour, and the lag's SampleCount, Minimum and Maximum."""
    now = datetime.now(UTC)
    found: dict[str, float] = {}
    for name in [*(counter.value for counter in Counter), EVENT_TO_ROW_LAG]:
        points = client.get_metric_statistics(
            Namespace=namespace,
            MetricName=name,
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=10),
            Period=60,
            Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
        )["Datapoints"]
        if not points:
            continue
        found[name] = sum(point.get("Sum", 0.0) for point in points)
        if name == EVENT_TO_ROW_LAG:
            found["LagSamples"] = sum(point.get("SampleCount", 0.0) for point in points)
            found["LagMinimum"] = min(point.get("Minimum", math.inf) for point in points)
            found["LagMaximum"] = max(point.get("Maximum", -math.inf) for point in points)
    return found


def counts(found: dict[str, float]) -> dict[str, float]:
    return {name: found.get(name, 0.0) for name in (counter.value for counter in Counter)}


def metrics_worker(
    stack: Stack, log: Path, queue: str, namespace: str, interval: float
) -> WorkerProcess:
    env = {
        **stack.env,
        "S3META_TASK_QUEUE": queue,
        "S3META_CLOUDWATCH_NAMESPACE": namespace,
        "S3META_METRICS_INTERVAL": str(interval),
    }
    return WorkerProcess(env, log, name="metrics", cwd=ROOT)


def run(queue: str, bucket: str, key: str, **event: str) -> dict[str, object]:
    result = extract_metadata.apply_async((bucket, key), event, queue=queue)
    result.get(timeout=RESULT_TIMEOUT, propagate=False)
    return result.result if isinstance(result.result, dict) else {"error": result.result}


def put_event(**fields: str) -> dict[str, str]:
    moment = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"event_name": "ObjectCreated:Put", "event_time": moment, **fields}


@pytest.mark.mysql
def test_a_running_worker_sends_indexed_skipped_failed_retried_and_lag_every_interval(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-metrics-{uuid.uuid4().hex[:8]}"
    namespace = f"s3meta-test/{uuid.uuid4().hex[:8]}"
    bucket = stack.new_bucket()
    s3 = stack.s3()
    for key in ("a.txt", "b.txt", "c.txt", "busy.txt", "secret.txt", "order.txt"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    stack.faults.fail("HEAD", f"/{bucket}/busy.txt", Fault(503, "SlowDown", times=1))
    stack.faults.fail("HEAD", f"/{bucket}/secret.txt", Fault(403, "AccessDenied"))
    worker = metrics_worker(stack, tmp_path / "worker.log", queue, namespace, interval=1)
    try:
        outcomes = [run(queue, bucket, key, **put_event()) for key in ("a.txt", "b.txt", "c.txt")]
        outcomes.append(run(queue, bucket, "busy.txt", **put_event()))
        outcomes.append(
            run(queue, bucket, "gone.txt", **put_event(event_name="ObjectRemoved:Delete"))
        )
        outcomes.append(run(queue, bucket, "order.txt", **put_event(sequencer="00000000000000B0")))
        skipped = run(queue, bucket, "order.txt", **put_event(sequencer="00000000000000A0"))
        denied = run(queue, bucket, "secret.txt", **put_event())
        assert [o.get("outcome") for o in outcomes] == ["succeeded"] * 4 + ["gone", "succeeded"]
        assert skipped.get("outcome") == "skipped"
        assert "outcome" not in denied
        expected = {"ObjectsIndexed": 6, "ObjectsSkipped": 1, "Failures": 1, "Retries": 1}
        client = cloudwatch(stack.moto.url)

        # Sent by the workers' threads while they run: no shutdown has flushed anything.
        wait_for(
            lambda: counts(totals(client, namespace)) == expected,
            METRICS_TIMEOUT,
            f"the metrics in CloudWatch to be {expected}",
        )
        found = totals(client, namespace)
        assert found["LagSamples"] == 6
        assert 0 <= found["LagMinimum"] <= found["LagMaximum"] < RESULT_TIMEOUT
    finally:
        worker.stop()
    assert "could not send" not in worker.log()


@pytest.mark.mysql
def test_a_worker_stopping_sends_what_its_interval_had_not_sent_yet(
    stack: Stack, tmp_path: Path
) -> None:
    queue = f"s3meta-metrics-{uuid.uuid4().hex[:8]}"
    namespace = f"s3meta-test/{uuid.uuid4().hex[:8]}"
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="kept.txt", Body=b"k")
    stack.s3().put_object(Bucket=bucket, Key="denied.txt", Body=b"d")
    stack.faults.fail("HEAD", f"/{bucket}/denied.txt", Fault(403, "AccessDenied"))
    worker = metrics_worker(stack, tmp_path / "worker.log", queue, namespace, interval=3600)
    client = cloudwatch(stack.moto.url)
    try:
        assert run(queue, bucket, "kept.txt", **put_event()).get("outcome") == "succeeded"
        assert "outcome" not in run(queue, bucket, "denied.txt")
        assert client.list_metrics(Namespace=namespace)["Metrics"] == []
    finally:
        exit_code = worker.stop()

    assert exit_code == 0, worker.log()
    found = totals(client, namespace)
    assert counts(found) == {
        "ObjectsIndexed": 1,
        "ObjectsSkipped": 0,
        "Failures": 1,
        "Retries": 0,
    }
    assert found["LagSamples"] == 1


def test_a_process_that_exits_without_flushing_still_sends_its_metrics(
    moto_server: MotoServer,
) -> None:
    namespace = f"s3meta-test/{uuid.uuid4().hex[:8]}"
    script = textwrap.dedent(
        f"""
        from s3meta import composition
        from s3meta.config import load_settings

        publisher = composition.metrics(load_settings(
            aws_endpoint_url={moto_server.url!r}, cloudwatch_namespace={namespace!r},
        ))
        publisher.record_indexed(2.0)
        publisher.record_retry()
        print("recorded")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**AWS_TEST_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "recorded"
    found = totals(cloudwatch(moto_server.url), namespace)
    assert counts(found) == {"ObjectsIndexed": 1, "ObjectsSkipped": 0, "Failures": 0, "Retries": 1}
    assert found["LagSamples"] == 1
