"""``benchmarks.retry_budget``: the total wait of a task retried until its policy gives up."""

from __future__ import annotations

import random

from benchmarks.retry_budget import totals
from s3meta.domain.retries import RetryPolicy


def test_a_policy_without_retries_waits_nothing() -> None:
    assert totals(RetryPolicy(0, 2, 600), 3, random.Random(1)) == [0, 0, 0]


def test_the_total_wait_stays_within_the_sum_of_the_caps_and_varies() -> None:
    found = totals(RetryPolicy(3, 2, 600), 500, random.Random(1))
    assert min(found) >= 0
    assert max(found) <= 2 + 4 + 8
    assert len(set(found)) > 5


def test_the_cap_bounds_each_wait() -> None:
    found = totals(RetryPolicy(4, 2, 3), 500, random.Random(1))
    assert max(found) <= 2 + 3 + 3 + 3
