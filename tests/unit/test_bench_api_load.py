"""benchmarks.api_load's figures: lookups per second and latency percentiles of its runs."""

from __future__ import annotations

from collections import Counter

from benchmarks.api_load import Run, summary


def test_a_run_gives_its_rate_and_nearest_rank_percentiles_in_milliseconds() -> None:
    run = Run(latencies=[0.001 * n for n in range(1, 101)], seconds=2.0)

    assert run.per_second == 50
    assert run.milliseconds(50) == 50
    assert round(run.milliseconds(99), 6) == 99


def test_a_summary_row_spreads_the_runs_and_counts_where_answers_came_from() -> None:
    runs = [
        Run([0.002] * 10, 1.0, Counter(cache=10)),
        Run([0.004] * 20, 1.0, Counter(cache=18, primary=2)),
    ]

    assert summary("Redis cache", runs) == [
        "Redis cache",
        "15 [10..20]",
        "3.00 [2.00..4.00]",
        "3.00 [2.00..4.00]",
        "cache 28, primary 2",
    ]
