"""How long a task's retries last: the chance that they all run out within an outage.

A task whose every attempt fails (the database away through a failover) fails for good once
its retries are used up; with full jitter, they may be used up early. For each retry count,
the share of tasks (simulated with ``s3meta.domain.retries.RetryPolicy``) whose waits add up
to less than each outage, and the median total wait.

    python -m benchmarks.retry_budget [--backoff 2] [--backoff-max 600] [--runs 100000]
"""

from __future__ import annotations

import argparse
import random
import statistics

from s3meta.domain.retries import RetryPolicy

OUTAGES = (30, 60, 120)


def totals(policy: RetryPolicy, runs: int, draw: random.Random) -> list[int]:
    """The total wait of ``runs`` tasks retried until ``policy`` gives up."""
    found: list[int] = []
    for _ in range(runs):
        waits = (
            policy.delay(attempt, draw.randrange) for attempt in range(1, policy.max_retries + 1)
        )
        found.append(sum(wait or 0 for wait in waits))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backoff", type=int, default=2)
    parser.add_argument("--backoff-max", type=int, default=600)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    draw = random.Random(1)
    print("retries  median total wait  " + "  ".join(f"P(all within {o} s)" for o in OUTAGES))
    for retries in (4, 6, 8, 10, 12):
        found = totals(RetryPolicy(retries, args.backoff, args.backoff_max), args.runs, draw)
        shares = [sum(total < outage for total in found) / len(found) for outage in OUTAGES]
        print(
            f"{retries:7d}  {statistics.median(found):15.0f} s  "
            + "  ".join(f"{share:17.4%}" for share in shares)
        )


if __name__ == "__main__":
    main()
