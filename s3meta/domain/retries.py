"""When a failed attempt is tried again: exponential backoff with full jitter, then no more."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# ``draw(n)``: a whole number from 0 to n - 1, uniformly (``random.randrange``).
Draw = Callable[[int], int]


def backoff_seconds(retries: int, factor: int, maximum: int, draw: Draw = random.randrange) -> int:
    """Seconds to wait before retry number ``retries + 1``: full jitter over an exponential.

    Drawn uniformly from 0 to ``min(maximum, factor * 2 ** retries)`` inclusive: "full
    jitter" of AWS's "Exponential Backoff And Jitter", the formula the task queue's own
    backoff uses (tests/unit/test_retries.py holds the two together).
    """
    ceiling = min(maximum, factor * 2**retries)
    return max(0, draw(ceiling + 1))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon a transient failure is tried again."""

    max_retries: int  # attempts after the first
    backoff: int  # seconds: the first retry waits up to this, each next up to twice as long
    backoff_max: int  # seconds: no wait is longer

    def delay(self, attempt: int, draw: Draw = random.randrange) -> int | None:
        """Seconds to wait before the attempt after attempt number ``attempt`` (1 for the
        first run), or None if that was the last one allowed."""
        retries = attempt - 1
        if retries >= self.max_retries:
            return None
        return backoff_seconds(retries, self.backoff, self.backoff_max, draw)
