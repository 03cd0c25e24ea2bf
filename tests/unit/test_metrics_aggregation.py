"""``s3meta.domain.metrics``: counts and lag samples as MetricData, in PutMetricData's limits."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.serialize import create_serializer
from hypothesis import given
from hypothesis import strategies as st

from s3meta.domain.metrics import (
    EVENT_TO_ROW_LAG,
    MAX_AGE,
    MAX_ENTRIES_PER_REQUEST,
    REQUEST_OVERHEAD_BYTES,
    Counter,
    MetricsAggregator,
    chunked,
    encoded_size,
    event_to_row_lag,
    recent,
)

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

# (counter, seconds after START) pairs, and (lag, seconds after START) pairs, within a day.
offsets = st.integers(min_value=0, max_value=86_399)
counts = st.lists(st.tuples(st.sampled_from(list(Counter)), offsets), max_size=200)
lags = st.lists(
    st.tuples(st.floats(min_value=0, max_value=1e6, allow_nan=False), offsets), max_size=200
)


def aggregated(counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]]) -> Any:
    aggregator = MetricsAggregator()
    for counter, offset in counted:
        aggregator.count(counter, START + timedelta(seconds=offset))
    for seconds, offset in lagged:
        aggregator.lag(seconds, START + timedelta(seconds=offset))
    return aggregator


def minute_of(offset: int) -> datetime:
    return START + timedelta(minutes=offset // 60)


@given(counts, lags)
def test_each_counter_sums_to_what_was_counted_in_each_minute(
    counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]]
) -> None:
    entries = aggregated(counted, lagged).drain()

    for counter in Counter:
        sent: dict[datetime, float] = {}
        for entry in entries:
            if entry["MetricName"] == counter.value:
                assert entry["Unit"] == "Count"
                sent[entry["Timestamp"]] = sent.get(entry["Timestamp"], 0) + entry["Value"]
        expected: dict[datetime, float] = {}
        for name, offset in counted:
            if name is counter:
                expected[minute_of(offset)] = expected.get(minute_of(offset), 0) + 1
        assert {minute: value for minute, value in sent.items() if value} == expected


@given(counts, lags)
def test_every_counter_is_sent_for_each_minute_with_data_zeros_included(
    counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]]
) -> None:
    entries = aggregated(counted, lagged).drain()

    busy = {minute_of(offset) for _, offset in counted} | {minute_of(o) for _, o in lagged}
    for counter in Counter:
        minutes = [e["Timestamp"] for e in entries if e["MetricName"] == counter.value]
        assert sorted(minutes) == sorted(busy)


@given(counts, lags)
def test_the_lag_statistics_of_each_minute_are_those_of_its_samples(
    counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]]
) -> None:
    entries = aggregated(counted, lagged).drain()

    sent = {e["Timestamp"]: e for e in entries if e["MetricName"] == EVENT_TO_ROW_LAG}
    by_minute: dict[datetime, list[float]] = {}
    for seconds, offset in lagged:
        by_minute.setdefault(minute_of(offset), []).append(seconds)
    assert set(sent) == set(by_minute)
    for minute, samples in by_minute.items():
        entry = sent[minute]
        assert entry["Unit"] == "Seconds"
        statistics = entry["StatisticValues"]
        assert statistics["SampleCount"] == len(samples)
        assert math.isclose(statistics["Sum"], math.fsum(samples), rel_tol=1e-9, abs_tol=1e-6)
        assert statistics["Minimum"] == min(samples)
        assert statistics["Maximum"] == max(samples)


@given(counts, lags)
def test_entries_are_stamped_with_whole_utc_minutes_oldest_first(
    counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]]
) -> None:
    entries = aggregated(counted, lagged).drain()

    stamps = [entry["Timestamp"] for entry in entries]
    assert stamps == sorted(stamps)
    for stamp in stamps:
        assert isinstance(stamp, datetime)
        assert stamp.tzinfo is not None
        assert stamp.utcoffset() == timedelta(0)
        assert (stamp.second, stamp.microsecond) == (0, 0)


@given(counts, lags, st.integers(min_value=0, max_value=200))
def test_draining_in_two_batches_sends_the_same_totals_as_one(
    counted: list[tuple[Counter, int]], lagged: list[tuple[float, int]], cut: int
) -> None:
    aggregator = MetricsAggregator()
    for counter, offset in counted[:cut]:
        aggregator.count(counter, START + timedelta(seconds=offset))
    first = aggregator.drain()
    for counter, offset in counted[cut:]:
        aggregator.count(counter, START + timedelta(seconds=offset))
    second = aggregator.drain()

    for counter in Counter:
        total = sum(e["Value"] for e in [*first, *second] if e["MetricName"] == counter.value)
        assert total == sum(1 for name, _ in counted if name is counter)


def test_drain_leaves_the_aggregator_empty() -> None:
    aggregator = MetricsAggregator()
    aggregator.count(Counter.INDEXED, START)
    aggregator.lag(1.5, START)

    assert len(aggregator.drain()) == len(Counter) + 1
    assert len(aggregator) == 0
    assert aggregator.drain() == []


def test_times_in_other_zones_land_in_their_utc_minute() -> None:
    aggregator = MetricsAggregator()
    aggregator.count(Counter.FAILURES, datetime.fromisoformat("2026-11-20T11:00:59+01:00"))

    assert {entry["Timestamp"] for entry in aggregator.drain()} == {START}


def test_a_naive_time_or_a_lag_that_is_not_finite_is_refused() -> None:
    aggregator = MetricsAggregator()

    with pytest.raises(ValueError, match="aware"):
        aggregator.count(Counter.INDEXED, datetime(2026, 11, 20, 10, 0))
    with pytest.raises(ValueError, match="finite"):
        aggregator.lag(math.nan, START)
    with pytest.raises(ValueError, match="finite"):
        aggregator.lag(math.inf, START)


def test_the_lag_runs_from_the_event_to_the_commit_and_never_below_zero() -> None:
    assert event_to_row_lag(START, START + timedelta(seconds=2.5)) == 2.5
    assert event_to_row_lag(START + timedelta(seconds=1), START) == 0.0
    assert event_to_row_lag(None, START) is None


def test_entries_older_than_cloudwatch_accepts_are_left_out() -> None:
    now = START + timedelta(days=30)
    old = {"MetricName": "Failures", "Timestamp": now - MAX_AGE - timedelta(minutes=1)}
    young = {"MetricName": "Failures", "Timestamp": now - MAX_AGE + timedelta(minutes=1)}
    unstamped = {"MetricName": "Failures"}

    assert recent([old, young, unstamped], now) == [young, unstamped]  # type: ignore[list-item]


# Chunking: generic entries of a given size.
sizes = st.lists(st.integers(min_value=1, max_value=500), max_size=300)
limits = st.tuples(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=2000))


@given(sizes, limits)
def test_chunks_keep_every_entry_in_order(entry_sizes: list[int], limit: tuple[int, int]) -> None:
    entries = list(enumerate(entry_sizes))

    requests = chunked(entries, lambda e: e[1], max_entries=limit[0], max_bytes=limit[1])

    assert [entry for request in requests for entry in request] == entries
    assert all(requests)


@given(sizes, limits)
def test_each_chunk_is_within_both_limits_unless_one_entry_alone_exceeds_them(
    entry_sizes: list[int], limit: tuple[int, int]
) -> None:
    max_entries, max_bytes = limit

    requests = chunked(entry_sizes, lambda size: size, max_entries, max_bytes)

    for request in requests:
        assert len(request) <= max_entries
        assert sum(request) <= max_bytes or len(request) == 1


@given(sizes, limits)
def test_a_chunk_ends_only_where_the_next_entry_would_break_a_limit(
    entry_sizes: list[int], limit: tuple[int, int]
) -> None:
    max_entries, max_bytes = limit

    requests = chunked(entry_sizes, lambda size: size, max_entries, max_bytes)

    for request, following in pairwise(requests):
        assert len(request) == max_entries or sum(request) + following[0] > max_bytes


def test_a_full_day_of_minutes_fits_in_the_fewest_requests_of_1000_entries() -> None:
    aggregator = MetricsAggregator()
    for minute in range(24 * 60):
        aggregator.count(Counter.INDEXED, START + timedelta(minutes=minute))
        aggregator.lag(1.0, START + timedelta(minutes=minute))
    entries = aggregator.drain()

    requests = chunked(entries, encoded_size)

    assert len(entries) == 24 * 60 * (len(Counter) + 1)
    assert len(requests) == math.ceil(len(entries) / MAX_ENTRIES_PER_REQUEST)


# The size estimate against what botocore really sends, in each protocol CloudWatch speaks.
_PUT_METRIC_DATA = (
    botocore.session.get_session().get_service_model("cloudwatch").operation_model("PutMetricData")
)
names = st.text(min_size=1, max_size=255)
datum = st.fixed_dictionaries(
    {
        "MetricName": names,
        "Timestamp": st.datetimes(
            min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ),
        "Unit": st.sampled_from(["Count", "Seconds"]),
    },
    optional={
        "Value": st.floats(allow_nan=False, allow_infinity=False),
        "Dimensions": st.lists(
            st.fixed_dictionaries({"Name": names, "Value": names}), min_size=1, max_size=3
        ),
        "StatisticValues": st.fixed_dictionaries(
            {
                "SampleCount": st.floats(min_value=1, max_value=1e9),
                "Sum": st.floats(allow_nan=False, allow_infinity=False),
                "Minimum": st.floats(allow_nan=False, allow_infinity=False),
                "Maximum": st.floats(allow_nan=False, allow_infinity=False),
            }
        ),
    },
)


def serialized_sizes(namespace: str, entries: list[Mapping[str, Any]]) -> dict[str, int]:
    params = {"Namespace": namespace, "MetricData": entries}
    found = {}
    for protocol in ("query", "json", "smithy-rpc-v2-cbor"):
        body = create_serializer(protocol).serialize_to_request(params, _PUT_METRIC_DATA)["body"]
        found[protocol] = len(urlencode(body).encode() if isinstance(body, dict) else body)
    return found


# CloudWatch namespaces are ASCII.
@given(
    st.lists(datum, min_size=1, max_size=20),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=255),
)
def test_the_size_estimate_is_never_below_the_real_request_in_any_protocol(
    entries: list[Mapping[str, Any]], namespace: str
) -> None:
    estimate = sum(encoded_size(entry) for entry in entries) + REQUEST_OVERHEAD_BYTES

    for protocol, size in serialized_sizes(namespace, entries).items():
        assert size <= estimate, protocol
