"""A rolling deploy under load: each worker in turn stopped with SIGTERM, the schema migrated,
a new worker started. Nothing is lost, and no message waits out its visibility timeout: a
stopping worker reads the answer of its long poll still in flight and makes what it got
visible again, sends the deletes of the tasks it finished, then hands back those it reserved
but never started."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from db.engine import writer_engine
from s3meta.processes import BridgeProcess, WorkerProcess, wait_for
from tests.support.database import ROOT, migrate, scratch_mysql_database
from tests.support.load import live_rows, new_load, outcomes
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

OBJECTS = 300
RATE = 10.0  # notifications a second: the feed lasts 30 s
WORKERS = 2
# Far longer than the test waits for the last row: a message left invisible by a stopping
# worker would come back only after the test has failed.
VISIBILITY_TIMEOUT = 300
# Each HeadObject held this long and two threads a worker: the workers (at most 2 / 0.6 s
# each) fall behind the feed, so that each holds reserved tasks when it is stopped.
HEAD_SECONDS = 0.6
THREADS = 2
RETURNED = re.compile(r"returned (\d+) of (\d+) reserved message")
READ = re.compile(r"(read|abandoned) the receive in flight on \S+ at cancel in ([\d.]+) s")
RELEASED = re.compile(r"made (\d+) message\(s\) received after the consumer")


# A cap, not a figure: on a loaded shared machine setting up the stack alone takes minutes.
@pytest.mark.timeout(480)
def test_a_rolling_restart_of_the_workers_with_a_migration_between_loses_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    load = new_load(stack, OBJECTS)
    for key in load.keys:
        stack.faults.slow_down("HEAD", f"/{load.bucket}/{key}", HEAD_SECONDS)
    with scratch_mysql_database() as database_url:
        migrate(database_url)
        env = {
            **stack.env,
            **load.queues,
            "S3META_DATABASE_URL": database_url,
            "S3META_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "S3META_TASK_TIME_LIMIT": "30",
            "S3META_RETRY_BACKOFF_MAX": "10",
        }
        env.pop("S3META_RESULT_BACKEND", None)
        engine = writer_engine(database_url)
        release = 0

        def start_worker() -> WorkerProcess:
            nonlocal release
            release += 1
            return WorkerProcess(
                env,
                tmp_path / f"worker-{release}.log",
                pool="threads",
                concurrency=THREADS,
                name=f"release-{release}",
                cwd=ROOT,
            )

        workers = [start_worker() for _ in range(WORKERS)]
        bridge = BridgeProcess(env, tmp_path / "bridge.log", cwd=ROOT)
        stops: list[float] = []
        migrations: list[float] = []
        logs: list[str] = []
        try:
            started = time.monotonic()
            feeder = load.feed(RATE)
            for turn in range(WORKERS):
                # A quarter of the feed, then every quarter after: still under load.
                due = OBJECTS * (turn + 1) // (WORKERS + 2)
                wait_for(
                    lambda: len(live_rows(engine, load.bucket)) >= due,  # noqa: B023
                    60,
                    f"{due} rows before restart {turn + 1}",
                )
                old = workers[turn]
                stopping = time.monotonic()
                code = old.stop(timeout=60)
                stops.append(time.monotonic() - stopping)
                logs.append(old.log())
                assert code == 0, old.log()
                migrations.append(alembic_upgrade(env))
                workers[turn] = start_worker()
            late = ""
            try:
                wait_for(
                    lambda: len(live_rows(engine, load.bucket)) == OBJECTS,
                    VISIBILITY_TIMEOUT / 4,
                    f"all {OBJECTS} rows",
                )
                wait_for(load.drained, 30, "the events and task queues to empty")
            except TimeoutError:
                late = (
                    f"{len(live_rows(engine, load.bucket))} rows; (visible, in flight) events "
                    f"{load.messages('S3META_EVENTS_QUEUE')}, tasks "
                    f"{load.messages('S3META_TASK_QUEUE')}"
                )
            finished = time.monotonic() - started
            assert feeder.error is None
            assert bridge.running(), bridge.log()
        finally:
            bridge.stop()
            for worker in workers:
                worker.stop()
        table = live_rows(engine, load.bucket)
        counted = outcomes(engine)
        engine.dispose()

    returned = [[tuple(map(int, found)) for found in RETURNED.findall(log)] for log in logs]
    reads = [[(how, float(took)) for how, took in READ.findall(log)] for log in logs]
    released = [sum(map(int, RELEASED.findall(log))) for log in logs]
    print(
        f"\nrolling restart: {OBJECTS} objects at {RATE:.0f}/s, {WORKERS} workers "
        f"({THREADS} threads, HeadObject {HEAD_SECONDS} s) "
        f"stopped with SIGTERM in turn ({', '.join(f'{s:.1f} s' for s in stops)} to exit), "
        f"alembic upgrade head between ({', '.join(f'{s:.1f} s' for s in migrations)}); "
        f"receive in flight at stop {reads}, its messages made visible {released}; "
        f"reserved messages returned (returned, reserved) {returned}; every row and no message "
        f"left (or given up on) {finished:.1f} s after the feed began; attempts {counted}"
        + (f"; LEFT IN FLIGHT: {late}" if late else "")
    )
    assert not late, f"messages left invisible after the workers stopped: {late}"
    assert table == load.s3_etags()
    assert counted.get("failed", 0) == 0
    assert counted.get("result FAILURE", 0) == 0
    # Each stopping worker held reserved tasks, and handed every one back.
    assert [len(found) for found in returned] == [1] * WORKERS, returned
    assert all(back == reserved > 0 for found in returned for back, reserved in found)
    assert load.messages("S3META_DEAD_LETTER_QUEUE") == (0, 0)


def alembic_upgrade(env: dict[str, str]) -> float:
    """``alembic upgrade head`` as a deploy runs it; its duration."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started
