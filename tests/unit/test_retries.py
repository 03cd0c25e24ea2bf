"""``s3meta.domain.retries``: exponential backoff with full jitter, and when retries end."""

from __future__ import annotations

import random

import pytest
from celery.utils.time import get_exponential_backoff_interval
from hypothesis import given
from hypothesis import strategies as st

from s3meta.domain.retries import RetryPolicy, backoff_seconds


def highest(n: int) -> int:
    """A draw that always takes the top of its range."""
    return n - 1


@given(
    retries=st.integers(0, 100),
    factor=st.integers(1, 3600),
    maximum=st.integers(1, 86400),
    seed=st.integers(0, 2**32),
)
def test_the_backoff_draws_exactly_what_celerys_full_jitter_draws(
    retries: int, factor: int, maximum: int, seed: int
) -> None:
    random.seed(seed)
    expected = get_exponential_backoff_interval(factor, retries, maximum, full_jitter=True)
    random.seed(seed)

    assert backoff_seconds(retries, factor, maximum) == expected


@given(retries=st.integers(0, 100), factor=st.integers(1, 3600), maximum=st.integers(1, 86400))
def test_the_backoff_stays_between_zero_and_the_capped_exponential(
    retries: int, factor: int, maximum: int
) -> None:
    ceiling = min(maximum, factor * 2**retries)

    assert backoff_seconds(retries, factor, maximum, highest) == ceiling
    assert backoff_seconds(retries, factor, maximum, lambda n: 0) == 0
    assert 0 <= backoff_seconds(retries, factor, maximum) <= ceiling


@pytest.mark.parametrize(
    ("retries", "ceiling"), [(0, 2), (1, 4), (2, 8), (5, 64), (8, 512), (9, 600), (50, 600)]
)
def test_each_retry_may_wait_twice_as_long_up_to_the_maximum(retries: int, ceiling: int) -> None:
    assert backoff_seconds(retries, 2, 600, highest) == ceiling


def test_a_policy_gives_a_delay_for_each_retry_then_none() -> None:
    policy = RetryPolicy(max_retries=3, backoff=1, backoff_max=600)

    delays = [policy.delay(attempt, highest) for attempt in range(1, 6)]

    assert delays == [1, 2, 4, None, None]


def test_a_policy_without_retries_gives_none_after_the_first_attempt() -> None:
    assert RetryPolicy(max_retries=0, backoff=2, backoff_max=600).delay(1) is None
