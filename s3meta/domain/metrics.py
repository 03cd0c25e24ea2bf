"""The worker's CloudWatch metrics: counts and lag samples, per minute, as MetricData entries.

Pure: the publisher (``s3meta.aws.metrics``) does the sending.

- ``ObjectsIndexed``: rows written, the object's state or its removal (outcomes succeeded
  and gone).
- ``ObjectsSkipped``: tasks that found the row already holding newer knowledge and wrote
  nothing (duplicate or reordered events). Kept apart from ``ObjectsIndexed`` so that it
  counts rows, and so that the share of redundant work shows.
- ``Failures``: tasks that failed for good (a permanent error, or the retries spent).
- ``Retries``: attempts that failed and scheduled another.
- ``EventToRowLag``: seconds from the S3 event's ``eventTime`` to the commit of the row it
  caused; only tasks that came from an event have one, manual requeues do not.

Counts are sent as ``Value`` (read them with the Sum statistic); the lag as
``StatisticValues``, so SampleCount, Average, Minimum and Maximum are right.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef

# PutMetricData's limits: 1000 MetricData entries, and 1 MB of payload per POST request.
MAX_ENTRIES_PER_REQUEST = 1000
MAX_REQUEST_BYTES = 1_000_000
# Room for what surrounds the entries: Action, Version, the Namespace (at most 255 characters).
REQUEST_OVERHEAD_BYTES = 1024
# CloudWatch refuses data points timestamped more than two weeks back; an hour's margin
# covers clock skew and the time a request takes.
MAX_AGE = timedelta(days=14) - timedelta(hours=1)

EVENT_TO_ROW_LAG = "EventToRowLag"

T = TypeVar("T")


class Counter(StrEnum):
    """The counted metrics, by their CloudWatch names."""

    INDEXED = "ObjectsIndexed"
    SKIPPED = "ObjectsSkipped"
    FAILURES = "Failures"
    RETRIES = "Retries"


@dataclass(slots=True)
class Samples:
    """Running statistics of a series of values."""

    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)


@dataclass(slots=True)
class _Minute:
    counts: dict[Counter, int] = field(default_factory=dict)
    lag: Samples = field(default_factory=Samples)


class MetricsAggregator:
    """Counts and lag samples by the minute they happened in, until ``drain`` takes them.

    By the minute because that is CloudWatch's resolution for standard metrics: a sample
    lands in its own minute however long it waits to be sent. Not thread-safe.
    """

    def __init__(self) -> None:
        self._minutes: dict[datetime, _Minute] = {}

    def __len__(self) -> int:
        """The number of minutes holding data."""
        return len(self._minutes)

    def count(self, counter: Counter, at: datetime, n: int = 1) -> None:
        """Add ``n`` to ``counter`` in the minute of ``at`` (an aware datetime)."""
        counts = self._minute(at).counts
        counts[counter] = counts.get(counter, 0) + n

    def lag(self, seconds: float, at: datetime) -> None:
        """Add one event-to-row lag sample, in seconds, to the minute of ``at``."""
        if not math.isfinite(seconds):
            raise ValueError(f"a lag must be a finite number of seconds, not {seconds}")
        self._minute(at).lag.add(seconds)

    def drain(self) -> list[MetricDatumTypeDef]:
        """The MetricData entries for everything recorded, oldest minute first; then empty.

        Every counter is sent for each minute that holds any data, zeros included, so that a
        graph or an alarm can tell "no failures" from "no data".
        """
        minutes, self._minutes = self._minutes, {}
        return [entry for minute in sorted(minutes) for entry in _entries(minute, minutes[minute])]

    def _minute(self, at: datetime) -> _Minute:
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        minute = at.astimezone(UTC).replace(second=0, microsecond=0)
        found = self._minutes.get(minute)
        if found is None:
            found = self._minutes[minute] = _Minute()
        return found


def _entries(minute: datetime, data: _Minute) -> Iterator[MetricDatumTypeDef]:
    for counter in Counter:
        yield {
            "MetricName": counter.value,
            "Timestamp": minute,
            "Unit": "Count",
            "Value": float(data.counts.get(counter, 0)),
        }
    lag = data.lag
    if lag.count:
        yield {
            "MetricName": EVENT_TO_ROW_LAG,
            "Timestamp": minute,
            "Unit": "Seconds",
            "StatisticValues": {
                "SampleCount": float(lag.count),
                "Sum": lag.total,
                "Minimum": lag.minimum,
                "Maximum": lag.maximum,
            },
        }


def event_to_row_lag(event_time: datetime | None, committed_at: datetime) -> float | None:
    """Seconds from the S3 event to the row's commit; ``None`` for a task without an event.

    Never below zero: S3's clock and the worker's can disagree by a little.
    """
    if event_time is None:
        return None
    return max(0.0, (committed_at - event_time).total_seconds())


def recent(entries: Iterable[MetricDatumTypeDef], now: datetime) -> list[MetricDatumTypeDef]:
    """The entries CloudWatch still accepts at ``now``: one too old fails its whole request."""
    oldest = now - MAX_AGE
    return [
        entry
        for entry in entries
        if not isinstance(stamp := entry.get("Timestamp"), datetime) or stamp >= oldest
    ]


def encoded_size(entry: Mapping[str, object]) -> int:
    """The bytes ``entry`` takes in a PutMetricData request, estimated from above.

    Counted in the query encoding, the most verbose one botocore may use (each value carries
    its whole field path), with the widest member number a request can have.
    """
    prefix = f"MetricData.member.{MAX_ENTRIES_PER_REQUEST}"
    return sum(
        len(quote(f"{prefix}.{path}", safe=".")) + len(quote(value, safe="")) + 2
        for path, value in _leaves(entry)
    )


def _leaves(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for name, inner in value.items():
            yield from _leaves(inner, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list | tuple):
        for number, inner in enumerate(value, start=1):
            yield from _leaves(inner, f"{path}.member.{number}")
    elif isinstance(value, datetime):
        yield path, value.isoformat()
    else:
        yield path, str(value)


def chunked(
    entries: Sequence[T],
    size: Callable[[T], int],
    max_entries: int = MAX_ENTRIES_PER_REQUEST,
    max_bytes: int = MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES,
) -> list[list[T]]:
    """``entries`` in order, cut greedily into requests within both limits.

    An entry larger than ``max_bytes`` by itself still gets a request of its own.
    """
    if max_entries < 1:
        raise ValueError("max_entries must be at least 1")
    requests: list[list[T]] = []
    current: list[T] = []
    current_bytes = 0
    for entry in entries:
        entry_bytes = size(entry)
        if current and (len(current) >= max_entries or current_bytes + entry_bytes > max_bytes):
            requests.append(current)
            current, current_bytes = [], 0
        current.append(entry)
        current_bytes += entry_bytes
    if current:
        requests.append(current)
    return requests


class Metrics(Protocol):
    """What a worker records: sent to CloudWatch (``s3meta.aws.metrics``) or nowhere."""

    def record_indexed(self, lag_seconds: float | None = None) -> None: ...
    def record_skipped(self) -> None: ...
    def record_failure(self) -> None: ...
    def record_retry(self) -> None: ...
    def flush(self) -> bool: ...


class NoMetrics:
    """What a worker without a CloudWatch namespace records: nothing."""

    def record_indexed(self, lag_seconds: float | None = None) -> None:
        pass

    def record_skipped(self) -> None:
        pass

    def record_failure(self) -> None:
        pass

    def record_retry(self) -> None:
        pass

    def flush(self) -> bool:
        return True
