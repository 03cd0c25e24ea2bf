"""The benchmark's figures read as median [min..max], ratios of medians and aligned tables."""

from __future__ import annotations

import pytest

from benchmarks.figures import percentile, ratio, spread, table


def test_a_spread_is_the_median_then_the_range() -> None:
    assert spread([3.0, 1.0, 2.5]) == "2.50 [1.00..3.00]"
    assert spread([6.4], digits=1) == "6.4"
    assert spread([]) == "-"


def test_a_ratio_is_of_the_medians_and_blank_without_a_base() -> None:
    assert ratio([18.0, 19.0, 30.0], [6.0, 6.5, 7.0]) == "2.92x"
    assert ratio([1.0], []) == ""
    assert ratio([1.0], [0.0]) == ""


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_a_table_aligns_its_columns_and_lets_headings_span() -> None:
    rows = [["== heading =="], ["figure", "seed", "target"], ["throughput", "28.0", ">= 1.5x"]]
    assert table(rows, align="lrl").splitlines() == [
        "== heading ==",
        "figure      seed  target",
        "throughput  28.0  >= 1.5x",
    ]
