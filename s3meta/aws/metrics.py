"""Sending the worker's metrics to CloudWatch in batches, from a background thread."""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from s3meta.aws.errors import Failure, classify, describe
from s3meta.domain.metrics import (
    Counter,
    MetricsAggregator,
    chunked,
    encoded_size,
    recent,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

logger = logging.getLogger(__name__)

# Entries kept for the next send after transient failures, oldest dropped first: five per
# minute of activity, so this rides out about 16 hours of CloudWatch trouble in about 1.3 MB.
MAX_BACKLOG = 5000
# How long ``close`` waits for a send in flight on the background thread.
_JOIN_TIMEOUT = 30.0


def _now() -> datetime:
    return datetime.now(UTC)


class MetricsPublisher:
    """Aggregates metrics in memory and sends them with PutMetricData every ``interval`` s.

    Recording takes a lock for a few dictionary updates: no I/O, no exception. The sending
    thread starts with the first record in each process; a forked child inherits no thread,
    so it starts its own and leaves what the parent recorded to the parent. Pending data
    is also sent by ``flush`` (worker shutdown) and at interpreter exit.

    A failed send logs one warning. After a transient failure (throttling, 5xx, no
    connection) the unsent entries wait for the next send, up to ``MAX_BACKLOG``, the
    oldest dropped first; after any other failure they are dropped, since sending them
    again would fail the same way.
    """

    def __init__(
        self,
        namespace: str,
        interval: float,
        client_factory: Callable[[], CloudWatchClient],
        clock: Callable[[], datetime] = _now,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.namespace = namespace
        self.interval = interval
        self._client_factory = client_factory
        self._clock = clock
        self._reset()
        _publishers.add(self)

    def _reset(self) -> None:
        """Start afresh: in a new object, or in a forked child (whose copy of the parent's
        locks may be held by a thread that does not exist there)."""
        self._lock = threading.Lock()  # guards the aggregator and the thread's start
        self._send_lock = threading.Lock()  # one send at a time; guards the backlog, client
        self._aggregator = MetricsAggregator()
        self._backlog: deque[MetricDatumTypeDef] = deque(maxlen=MAX_BACKLOG)
        self._client: CloudWatchClient | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def record_indexed(self, lag_seconds: float | None = None) -> None:
        """One row written; ``lag_seconds`` from its S3 event to the commit, if it had one."""
        now = self._clock()
        with self._lock:
            self._aggregator.count(Counter.INDEXED, now)
            if lag_seconds is not None and math.isfinite(lag_seconds):
                self._aggregator.lag(lag_seconds, now)
            self._start_thread()

    def record_skipped(self) -> None:
        """One task that found newer knowledge in the row and wrote nothing."""
        self._count(Counter.SKIPPED)

    def record_failure(self) -> None:
        """One task failed for good."""
        self._count(Counter.FAILURES)

    def record_retry(self) -> None:
        """One attempt failed and another is scheduled."""
        self._count(Counter.RETRIES)

    @property
    def running(self) -> bool:
        """Whether this process's sending thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def pending(self) -> int:
        """Minutes recorded and not yet taken for sending, plus entries kept from failed sends."""
        with self._lock:
            return len(self._aggregator) + len(self._backlog)

    def flush(self) -> bool:
        """Send everything recorded now; ``True`` if nothing is left unsent. Never raises."""
        with self._send_lock:
            with self._lock:
                fresh = self._aggregator.drain()
            entries = recent([*self._backlog, *fresh], self._clock())
            self._backlog.clear()
            requests = chunked(entries, encoded_size)
            for index, request in enumerate(requests):
                try:
                    self._send(request)
                except Exception as exc:  # noqa: BLE001 - metrics must never fail the worker
                    unsent = [entry for later in requests[index:] for entry in later]
                    self._keep_or_drop(unsent, exc)
                    return False
            return True

    def close(self) -> bool:
        """Stop the sending thread and send what is left; ``True`` if nothing is left unsent."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
        return self.flush()

    def _count(self, counter: Counter) -> None:
        now = self._clock()
        with self._lock:
            self._aggregator.count(counter, now)
            self._start_thread()

    def _start_thread(self) -> None:
        if self._thread is not None or self._stopping.is_set():
            return
        thread = threading.Thread(target=self._run, name="s3meta-metrics", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:
            # Without a thread the data still goes out at the next flush.
            logger.warning("could not start the metrics thread: %s", exc)
        self._thread = thread

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            self.flush()

    def _send(self, request: list[MetricDatumTypeDef]) -> None:
        if self._client is None:
            self._client = self._client_factory()
        self._client.put_metric_data(Namespace=self.namespace, MetricData=request)

    def _keep_or_drop(self, unsent: list[MetricDatumTypeDef], exc: Exception) -> None:
        reason = describe(exc)
        if classify(exc) is Failure.TRANSIENT:
            # The backlog is empty here (``flush`` took it); past its bound the oldest go.
            self._backlog.extend(unsent)
            logger.warning(
                "could not send %d metric entries to CloudWatch (%s); kept %d for the next try",
                len(unsent),
                reason,
                len(self._backlog),
            )
        else:
            logger.warning(
                "could not send %d metric entries to CloudWatch (%s); dropped them",
                len(unsent),
                reason,
            )


_publishers: weakref.WeakSet[MetricsPublisher] = weakref.WeakSet()


def _forget_parent_state() -> None:
    for publisher in list(_publishers):
        publisher._reset()


def _flush_at_exit() -> None:
    for publisher in list(_publishers):
        publisher.close()


os.register_at_fork(after_in_child=_forget_parent_state)
atexit.register(_flush_at_exit)
