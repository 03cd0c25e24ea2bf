"""Hot prefixes under concurrent writers: the totals' shards against one row per total.

``--writers`` processes (each as a worker's pool child: its own engine, the worker's
``MetadataStore``) apply ``--writes`` new objects each, all under one prefix
(``hot/day/WRITER-N``), so every write adds to the same three totals (the root, ``hot/``,
``hot/day/``). Run for each design: ``none`` (the writer without totals, the baseline),
``shards=1`` (one row per total: every writer waits on the root row from its write until its
COMMIT) and ``shards=S`` for each ``--shards``. Reported: writes/s, each write's latency
(p50 / p99), and InnoDB's row lock waits, the time spent in them and deadlocks (restarted
by the store), from ``SHOW GLOBAL STATUS`` around the run (other sessions' waits count too:
run it on a quiet server).

    .venv/bin/python -m benchmarks.totals_contention --writers 1 --writers 4 --writers 8
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

from benchmarks.figures import percentile, table
from benchmarks.harness import mysql_option, scratch_database
from db.engine import writer_engine
from db.store import MetadataStore
from db.together import Write
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectRecord
from s3meta.domain.totals import TotalsRule
from s3meta.domain.transitions import Change

BUCKET = "contention"
MODIFIED = datetime(2026, 12, 1, tzinfo=UTC)
_STATUS = ("Innodb_row_lock_waits", "Innodb_row_lock_time", "Innodb_deadlocks")


class _WithoutTotals(MetadataStore):
    """The writer as it was before totals: the baseline."""

    def _total_writes(self, before: ObjectRecord | None, after: ObjectRecord | None) -> list[Write]:
        return []


def _writer(
    url: str, design: str, shards: int, writer: int, writes: int, start: Any
) -> list[float]:
    engine = writer_engine(url)
    store = (
        _WithoutTotals(engine)
        if design == "none"
        else MetadataStore(engine, totals=TotalsRule(depth=3, shards=shards))
    )
    event = EventInfo("ObjectCreated:Put", MODIFIED)
    store.apply(_change(f"warmup/{writer}", event))  # opens the connection
    start.wait()
    took = []
    for n in range(writes):
        began = time.perf_counter()
        store.apply(_change(f"hot/day/{writer}-{n}", event))
        took.append(time.perf_counter() - began)
    engine.dispose()
    return took


def _change(key: str, event: EventInfo) -> Change:
    state = ObjectState(BUCKET, key, 100, "0" * 32, MODIFIED)
    return Change(BUCKET, key, state, event, MODIFIED)


def _status(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SHOW GLOBAL STATUS")).all()
    finally:
        engine.dispose()
    found: dict[str, str] = dict(rows)
    return {name: int(found.get(name, 0)) for name in _STATUS}


def run(url: str, design: str, shards: int, writers: int, writes: int) -> list[str]:
    """One design with ``writers`` writers: its row of figures."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(writers + 1)
        with context.Pool(writers) as pool:
            pending = [
                pool.apply_async(_writer, (url, design, shards, n, writes, start))
                for n in range(writers)
            ]
            start.wait()
            before = _status(url)
            began = time.perf_counter()
            latencies = [each for job in pending for each in job.get(timeout=600)]
            wall = time.perf_counter() - began
            after = _status(url)
    waits, waited, deadlocks = (after[name] - before[name] for name in _STATUS)
    label = "none" if design == "none" else f"shards={shards}"
    return [
        label,
        str(writers),
        f"{writers * writes / wall:.0f}",
        f"{percentile(latencies, 50) * 1000:.1f}",
        f"{percentile(latencies, 99) * 1000:.1f}",
        f"{waits / (writers * writes):.2f}",
        f"{waited / (writers * writes):.2f}",
        str(deadlocks),
    ]


@click.command()
@click.option("--writers", type=click.IntRange(min=1), multiple=True, default=(1, 4, 8))
@click.option("--writes", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--shards", type=click.IntRange(min=2), multiple=True, default=(16,))
@mysql_option("the MySQL/MariaDB server, for a scratch database per run")
def main(writers: tuple[int, ...], writes: int, shards: tuple[int, ...], mysql: str) -> None:
    designs = [("none", 1), ("sharded", 1), *(("sharded", n) for n in shards)]
    rows = [
        [
            "design",
            "writers",
            "writes/s",
            "p50 ms",
            "p99 ms",
            "lock waits/write",
            "ms waited/write",
            "deadlocks",
        ]
    ]
    for count in writers:
        for design, shard_count in designs:
            with scratch_database(mysql) as url:
                rows.append(run(url, design, shard_count, count, writes))
                click.echo(" ".join(rows[-1]), err=True)
    click.echo(f"{writes} new objects per writer, all under s3://{BUCKET}/hot/day/")
    click.echo(table(rows))


if __name__ == "__main__":
    main()
