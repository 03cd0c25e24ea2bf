"""``MetricsPublisher`` on moto in process: batches reach CloudWatch; failures never raise."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

import tasks.metrics
from s3meta.aws.metrics import MetricsPublisher
from s3meta.config import get_settings
from s3meta.domain.metrics import EVENT_TO_ROW_LAG, MAX_ENTRIES_PER_REQUEST, Counter, NoMetrics
from s3meta.processes import free_port, wait_for

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient

NAMESPACE = "s3meta/test"
LOG_NAME = "s3meta.aws.metrics"


@pytest.fixture
def cloudwatch(fake_aws: None) -> CloudWatchClient:
    return boto3.client("cloudwatch", region_name="us-east-1")


class Calls:
    """The PutMetricData requests a client made, as the caller passed them."""

    def __init__(self, client: CloudWatchClient) -> None:
        self.requests: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.cloudwatch.PutMetricData", self._seen)

    def _seen(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(params)

    def entries(self) -> list[dict[str, Any]]:
        return [entry for request in self.requests for entry in request["MetricData"]]


@pytest.fixture
def publishers() -> Iterator[Callable[..., MetricsPublisher]]:
    """Makes publishers, and stops each one's thread after the test."""
    made: list[MetricsPublisher] = []

    def make(client: CloudWatchClient, **options: Any) -> MetricsPublisher:
        publisher = MetricsPublisher(
            NAMESPACE, options.pop("interval", 3600), lambda: client, **options
        )
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher._stopping.set()
        if publisher._thread is not None:
            publisher._thread.join(10)


def statistics(client: CloudWatchClient, name: str) -> dict[str, float]:
    """The metric's statistics over the last hour, summed across its data points."""
    now = datetime.now(UTC)
    points = client.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    return {
        "Sum": sum(point.get("Sum", 0) for point in points),
        "SampleCount": sum(point.get("SampleCount", 0) for point in points),
        "Minimum": min((point.get("Minimum", math.inf) for point in points), default=math.inf),
        "Maximum": max((point.get("Maximum", -math.inf) for point in points), default=-math.inf),
    }


def test_recorded_metrics_are_in_cloudwatch_after_a_flush(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    publisher = publishers(cloudwatch)
    for lag in (0.5, 2.0, 4.5):
        publisher.record_indexed(lag)
    publisher.record_indexed()
    publisher.record_skipped()
    publisher.record_retry()
    publisher.record_retry()
    publisher.record_failure()

    assert publisher.flush() is True

    listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {metric["MetricName"] for metric in listed} == {
        "ObjectsIndexed",
        "ObjectsSkipped",
        "Failures",
        "Retries",
        "EventToRowLag",
    }
    assert statistics(cloudwatch, "ObjectsIndexed")["Sum"] == 4
    assert statistics(cloudwatch, "ObjectsSkipped")["Sum"] == 1
    assert statistics(cloudwatch, "Retries")["Sum"] == 2
    assert statistics(cloudwatch, "Failures")["Sum"] == 1
    assert statistics(cloudwatch, EVENT_TO_ROW_LAG) == {
        "Sum": 7.0,
        "SampleCount": 3,
        "Minimum": 0.5,
        "Maximum": 4.5,
    }


def test_a_flush_with_nothing_recorded_makes_no_request(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    calls = Calls(cloudwatch)
    publisher = publishers(cloudwatch)

    assert publisher.flush() is True
    assert calls.requests == []


def test_many_records_in_one_minute_go_out_in_one_request(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    calls = Calls(cloudwatch)
    publisher = publishers(cloudwatch)
    for _ in range(2000):
        publisher.record_indexed(1.0)

    publisher.flush()

    assert len(calls.requests) == 1
    assert statistics(cloudwatch, "ObjectsIndexed")["Sum"] == 2000
    assert statistics(cloudwatch, EVENT_TO_ROW_LAG)["SampleCount"] == 2000


@pytest.mark.parametrize("minutes", [1, 199, 200, 201, 1000])
def test_records_over_many_minutes_take_the_fewest_requests_of_1000_entries(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher], minutes: int
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    moment = [start]
    calls = Calls(cloudwatch)
    publisher = publishers(cloudwatch, clock=lambda: moment[0])
    for minute in range(minutes):
        moment[0] = start + timedelta(minutes=minute)
        publisher.record_indexed()
        publisher.record_indexed()
        publisher.record_retry()

    publisher.flush()

    entries_per_minute = len(Counter)  # no lag: these tasks had no event
    expected = math.ceil(minutes * entries_per_minute / MAX_ENTRIES_PER_REQUEST)
    assert len(calls.requests) == expected
    assert all(len(r["MetricData"]) <= MAX_ENTRIES_PER_REQUEST for r in calls.requests)
    indexed = [e["Value"] for e in calls.entries() if e["MetricName"] == "ObjectsIndexed"]
    assert sum(indexed) == 2 * minutes


def test_the_thread_sends_batches_every_interval_without_a_flush(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    calls = Calls(cloudwatch)
    publisher = publishers(cloudwatch, interval=0.2)
    assert publisher.running is False

    publisher.record_indexed()
    assert publisher.running is True
    wait_for(lambda: len(calls.requests) >= 1, 10, "the first batch")
    publisher.record_failure()
    wait_for(lambda: len(calls.requests) >= 2, 10, "the second batch")
    # The hook sees a request before it is sent: wait for CloudWatch to hold it.
    wait_for(lambda: statistics(cloudwatch, "Failures")["Sum"] >= 1, 10, "the second batch stored")

    assert statistics(cloudwatch, "ObjectsIndexed")["Sum"] == 1
    assert statistics(cloudwatch, "Failures")["Sum"] == 1


def test_close_stops_the_thread_and_sends_what_is_left(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    publisher = publishers(cloudwatch)
    publisher.record_retry()

    assert publisher.close() is True

    assert publisher.running is False
    assert statistics(cloudwatch, "Retries")["Sum"] == 1


def refusing_client() -> CloudWatchClient:
    """A client whose endpoint refuses connections at once, with no retries."""
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=2),
    )


def test_an_endpoint_refusing_connections_logs_one_warning_and_keeps_the_batch(
    publishers: Callable[..., MetricsPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    publisher = publishers(refusing_client())
    publisher.record_indexed(1.0)
    publisher.record_failure()

    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        sent = publisher.flush()

    assert sent is False
    warnings = [r for r in caplog.records if r.name == LOG_NAME]
    assert len(warnings) == 1
    assert "kept 5 for the next try" in warnings[0].getMessage()
    assert publisher.pending() == 5


def test_a_batch_kept_after_throttling_goes_out_first_with_the_next_one(
    publishers: Callable[..., MetricsPublisher],
) -> None:
    client = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    calls = Calls(client)
    stubber = Stubber(client)
    stubber.add_client_error("put_metric_data", "Throttling", http_status_code=400)
    stubber.add_response("put_metric_data", {})
    clock = [datetime.now(UTC) - timedelta(minutes=5)]
    publisher = publishers(client, clock=lambda: clock[0])

    with stubber:
        publisher.record_failure()
        assert publisher.flush() is False
        clock[0] += timedelta(minutes=2)
        publisher.record_retry()
        assert publisher.flush() is True

    assert publisher.pending() == 0
    first, second = (request["MetricData"] for request in calls.requests)
    assert second[: len(first)] == first
    assert [e["Value"] for e in second if e["MetricName"] == "Failures"] == [1.0, 0.0]
    assert [e["Value"] for e in second if e["MetricName"] == "Retries"] == [0.0, 1.0]


def test_a_batch_cloudwatch_refuses_as_invalid_is_dropped_with_a_warning(
    publishers: Callable[..., MetricsPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    client = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    stubber.add_client_error("put_metric_data", "InvalidParameterValue", http_status_code=400)
    publisher = publishers(client)
    publisher.record_indexed()

    with stubber, caplog.at_level(logging.WARNING, logger=LOG_NAME):
        assert publisher.flush() is False

    assert publisher.pending() == 0
    assert "dropped them" in caplog.text
    assert "InvalidParameterValue" in caplog.text


def test_recording_never_raises_when_the_client_cannot_be_built(
    publishers: Callable[..., MetricsPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> CloudWatchClient:
        raise RuntimeError("no credentials anywhere")

    publisher = MetricsPublisher(NAMESPACE, 3600, broken)

    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        publisher.record_indexed(3.0)
        assert publisher.close() is False

    assert "no credentials anywhere" in caplog.text


def test_a_forked_child_starts_its_own_thread_without_the_parents_data(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    publisher = publishers(cloudwatch)
    publisher.record_indexed()
    publisher.record_failure()
    assert publisher.running is True
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # the child reports what it sees and leaves at once
        try:
            seen = [publisher.pending(), publisher.running]
            publisher.record_retry()
            seen += [publisher.pending(), publisher.running]
            os.write(write_end, repr(seen).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)

    assert report == "[0, False, 1, True]"
    assert publisher.pending() == 1
    assert publisher.running is True


@pytest.mark.usefixtures("isolated_environment")
def test_without_a_namespace_the_worker_records_nothing_and_starts_no_thread() -> None:
    tasks.metrics.metrics.cache_clear()
    try:
        before = set(threading.enumerate())
        sink = tasks.metrics.metrics()
        sink.record_indexed(1.0)
        sink.record_failure()

        assert isinstance(sink, NoMetrics)
        assert set(threading.enumerate()) == before
        assert sink.flush() is True
    finally:
        tasks.metrics.metrics.cache_clear()


@pytest.mark.usefixtures("isolated_environment")
def test_with_a_namespace_the_worker_gets_a_publisher_with_the_configured_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3META_CLOUDWATCH_NAMESPACE", "s3meta/prod")
    monkeypatch.setenv("S3META_METRICS_INTERVAL", "15")
    get_settings.cache_clear()
    tasks.metrics.metrics.cache_clear()
    try:
        sink = tasks.metrics.metrics()

        assert isinstance(sink, MetricsPublisher)
        assert (sink.namespace, sink.interval) == ("s3meta/prod", 15.0)
        assert sink.running is False
    finally:
        tasks.metrics.metrics.cache_clear()


def test_a_publisher_waits_for_its_interval_between_batches(
    cloudwatch: CloudWatchClient, publishers: Callable[..., MetricsPublisher]
) -> None:
    calls = Calls(cloudwatch)
    publisher = publishers(cloudwatch, interval=0.5)
    publisher.record_indexed()
    started = time.monotonic()

    wait_for(lambda: len(calls.requests) >= 1, 10, "the first batch")

    assert time.monotonic() - started >= 0.4
