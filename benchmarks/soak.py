"""Soak: a steady rate of notifications through the whole pipeline for a long while.

One moto server, a scratch MariaDB database, and ``s3meta bridge`` and
``celery -A tasks worker`` (threads x8) processes as deployed. After ``--warmup``
notifications that pay for lazy set-up, a paced feeder sends one SendMessage per object at
``--rate`` per second for ``--minutes``, as S3 does; every ``--interval`` seconds the bench
samples the queue depths, the RSS and open file descriptors (``/proc/PID/fd``) of every
process (bridge, worker, moto, mariadbd when it runs here) and the database's open
connections (``SHOW STATUS LIKE 'Threads_connected'``). Then it waits for the pipeline to
drain and reports, per interval of sending:

- event-to-row latency (notification sent to the row's ``updated_at``): p50, p99, max;
- the queue depths, the database connections (the run's database's, and the server's
  Threads_connected, every client's on a shared server) and descriptors sampled at its end;

then each process's RSS and descriptors at the start and the end of the steady phase,
flagged when RSS grew by more than ``--rss-bound`` percent, and the ERROR/CRITICAL lines
and tracebacks of the bridge's and the worker's logs.

    .venv/bin/python -m benchmarks.soak --rate 30 --minutes 30
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError

from benchmarks.cost import _client, _count, _depth, _logs_folder, _row_times, _server_pid
from benchmarks.figures import percentile, table
from benchmarks.harness import (
    AWS,
    PacedFeeder,
    S3metaProcesses,
    feed,
    queue_names,
    scratch_database,
    upload,
    wait_fed,
)
from benchmarks.procstat import read_stat
from db.engine import create_engine
from s3meta.processes import MotoServer

DRAIN_SECONDS = 300  # the most the pipeline may take to empty after the last notification
_ERROR_LINE = re.compile(r"\b(ERROR|CRITICAL)\b|^Traceback")


@dataclass(frozen=True)
class Sample:
    """What the bench saw at one moment, ``at`` seconds into the steady phase."""

    at: float
    depths: dict[str, int]  # by queue role
    rss_mb: dict[str, float]  # by process role
    fds: dict[str, int]  # by process role
    connections: int | None  # Threads_connected; None if the server did not answer
    rows: int
    own_connections: int | None = None  # of them, those on the run's own database


@dataclass
class Soak:
    """A finished run: when each key was sent and written, the samples, the log errors."""

    rate: float
    minutes: float
    interval: float
    rss_bound: float  # percent
    sent: dict[str, float]  # key -> seconds into the steady phase
    written: dict[str, float]  # key -> seconds into the steady phase
    samples: list[Sample]
    errors: list[str] = field(default_factory=list)
    drain_seconds: float | None = None  # None: did not drain within DRAIN_SECONDS


def interval_rows(soak: Soak) -> list[list[str]]:
    """One row per ``interval`` of sending: latencies of the keys sent in it, the sample at
    its end."""
    rows = [["interval s", "sent", "rows", "p50 ms", "p99 ms", "max ms", "events", "tasks",
             "DB conns", "server conns", "bridge fds", "worker fds"]]  # fmt: skip
    if not soak.sent:
        return rows
    end = max(soak.sent.values())
    count = int(end // soak.interval) + 1
    for n in range(count):
        low, high = n * soak.interval, (n + 1) * soak.interval
        keys = [key for key, at in soak.sent.items() if low <= at < high]
        latencies = [(soak.written[key] - soak.sent[key]) * 1000 for key in keys
                     if key in soak.written]  # fmt: skip
        sample = _sample_at(soak.samples, high)
        figures = [f"{percentile(latencies, share):.0f}" for share in (50, 99, 100)]
        rows.append(
            [
                f"{low:g}-{high:g}",
                str(len(keys)),
                str(len(latencies)),
                *(figures if latencies else ["-"] * 3),
                *_sampled(sample),
            ]
        )
    return rows


def _sample_at(samples: list[Sample], at: float) -> Sample | None:
    """The first sample taken at or after ``at``, else the last one."""
    return next((s for s in samples if s.at >= at), samples[-1] if samples else None)


def _sampled(sample: Sample | None) -> list[str]:
    if sample is None:
        return ["-"] * 6
    return [
        str(sample.depths.get("events", "-")),
        str(sample.depths.get("tasks", "-")),
        "-" if sample.own_connections is None else str(sample.own_connections),
        "-" if sample.connections is None else str(sample.connections),
        str(sample.fds.get("bridge", "-")),
        str(sample.fds.get("worker", "-")),
    ]


@dataclass(frozen=True)
class Growth:
    role: str
    start_mb: float
    end_mb: float
    start_fds: int | None
    end_fds: int | None

    @property
    def percent(self) -> float:
        return (self.end_mb - self.start_mb) / self.start_mb * 100 if self.start_mb else 0.0


def growth(samples: list[Sample]) -> list[Growth]:
    """Each process's RSS and descriptors in the first and the last sample."""
    if not samples:
        return []
    first, last = samples[0], samples[-1]
    return [
        Growth(role, first.rss_mb[role], last.rss_mb[role], first.fds.get(role), last.fds.get(role))
        for role in first.rss_mb
        if role in last.rss_mb
    ]


def achieved(soak: Soak) -> str:
    """The rate the feeder kept: on a loaded machine it falls behind ``--rate``."""
    if len(soak.sent) < 2:
        return "sent: too few notifications for a rate"
    span = max(soak.sent.values()) - min(soak.sent.values())
    kept = (len(soak.sent) - 1) / span if span > 0 else float("inf")
    behind = "" if kept >= soak.rate * 0.98 else f" (BEHIND the asked {soak.rate:g}/s)"
    return f"sent at {kept:.1f}/s over {span / 60:.1f} min{behind}"


def report(soak: Soak) -> str:
    """The per-interval table, then memory and descriptors, drain, missing rows, errors."""
    latencies = [(soak.written[k] - at) * 1000 for k, at in soak.sent.items() if k in soak.written]
    missing = len(soak.sent) - len(latencies)
    lines = [
        f"soak: {soak.rate:g} notifications/s for {soak.minutes:g} min, sampled every "
        f"{soak.interval:g} s; {len(soak.sent)} sent, {len(latencies)} rows, {missing} missing",
        achieved(soak),
        table(interval_rows(soak)),
        "",
    ]
    if latencies:
        lines.append(
            "whole run: p50 {:.0f} ms, p99 {:.0f} ms, max {:.0f} ms".format(
                *(percentile(latencies, share) for share in (50, 99, 100))
            )
        )
    rows = [["process", "RSS start MB", "RSS end MB", "growth", "fds start", "fds end", ""]]
    flagged = []
    for each in growth(soak.samples):
        over = each.percent > soak.rss_bound
        if over:
            flagged.append(each.role)
        rows.append(
            [
                each.role,
                f"{each.start_mb:.1f}",
                f"{each.end_mb:.1f}",
                f"{each.percent:+.1f}%",
                "-" if each.start_fds is None else str(each.start_fds),
                "-" if each.end_fds is None else str(each.end_fds),
                f"GROWTH > {soak.rss_bound:g}%" if over else "",
            ]
        )
    lines += [table(rows, align="lrrrrrl"), ""]
    verdict = f"RSS grew beyond {soak.rss_bound:g}%: {', '.join(flagged)}" if flagged else (
        f"RSS within {soak.rss_bound:g}% for every process")  # fmt: skip
    drained = (
        f"drained {soak.drain_seconds:.1f} s after the last notification"
        if soak.drain_seconds is not None
        else f"NOT drained within {DRAIN_SECONDS} s"
    )
    lines += [verdict, drained, f"errors in the logs: {len(soak.errors)}"]
    lines += [f"  {line}" for line in soak.errors[:10]]
    return "\n".join(lines)


def log_errors(paths: list[Path]) -> list[str]:
    """The ERROR/CRITICAL lines and tracebacks of ``paths``, each prefixed by its file."""
    found = []
    for path in paths:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if _ERROR_LINE.search(line):
                    found.append(f"{path.name}: {line[:200]}")
    return found


def open_fds(pid: int) -> int | None:
    try:
        return sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def connections(engine: sa.Engine) -> tuple[int | None, int | None]:
    """The server's open connections (Threads_connected: every client's, on a shared server),
    and those on ``engine``'s database (the pipeline's, and the sampler's own one)."""
    try:
        with engine.connect() as connection:
            row = connection.execute(sa.text("SHOW STATUS LIKE 'Threads_connected'")).first()
            own = connection.execute(
                sa.text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE()")
            ).scalar_one()
    except sa.exc.DBAPIError:
        return None, None
    return (None if row is None else int(row[1])), int(own)


class Sampler(threading.Thread):
    """Takes a ``Sample`` every ``interval`` seconds until stopped (and one when stopped)."""

    def __init__(
        self,
        pids: Mapping[str, int],
        queues: Mapping[str, str],
        sqs: Any,
        engine: sa.Engine,
        interval: float,
    ) -> None:
        super().__init__(daemon=True)
        self._pids, self._queues, self._sqs, self._engine = pids, queues, sqs, engine
        self._interval = interval
        self._finished = threading.Event()
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.samples: list[Sample] = []
        self.error: Exception | None = None

    def take(self) -> Sample:
        rss, fds = {}, {}
        for role, pid in self._pids.items():
            stat = read_stat(pid)
            if stat is not None:
                rss[role] = stat.rss / 2**20
            if (count := open_fds(pid)) is not None:
                fds[role] = count
        server, own = connections(self._engine)
        return Sample(
            at=time.monotonic() - self.started,
            depths={role: _depth(self._sqs, url) for role, url in self._queues.items()},
            rss_mb=rss,
            fds=fds,
            connections=server,
            rows=_count(self._engine, "object_metadata"),
            own_connections=own,
        )

    def run(self) -> None:
        try:
            while not self._finished.wait(self._interval):
                self.samples.append(self.take())
        except Exception as error:  # noqa: BLE001 - reported by main
            self.error = error

    def finish(self) -> None:
        self._finished.set()
        self.join(timeout=60)
        self.samples.append(self.take())


def soak(
    *, rate: float, minutes: float, interval: float, warmup: int, rss_bound: float, mysql: str,
    logs: Path,
) -> Soak:  # fmt: skip
    count = round(rate * minutes * 60)
    with scratch_database(mysql) as database_url, _moto(logs) as moto:
        sqs, s3 = _client("sqs", moto.url), _client("s3", moto.url)
        bucket = f"soak-{uuid.uuid4().hex[:8]}"
        click.echo(f"uploading {warmup + count} objects to s3://{bucket}", err=True)
        keys = upload(s3, bucket, warmup + count)
        names = queue_names(uuid.uuid4().hex[:8])
        events_url = str(sqs.create_queue(QueueName=names["S3META_EVENTS_QUEUE"])["QueueUrl"])
        dlq_url = str(sqs.create_queue(QueueName=names["S3META_DEAD_LETTER_QUEUE"])["QueueUrl"])
        env = {**AWS, **names, "AWS_ENDPOINT_URL": moto.url, "S3META_DATABASE_URL": database_url}
        engine = create_engine(database_url)
        processes = S3metaProcesses(env, env, logs, worker_pool="threads", worker_concurrency=8,
                                    bridge_concurrency=2)  # fmt: skip
        try:
            tasks_url = str(sqs.get_queue_url(QueueName=names["S3META_TASK_QUEUE"])["QueueUrl"])
            warm = feed(sqs, events_url, bucket, keys[:warmup], depth=20)
            wait_fed(lambda: _count(engine, "object_metadata") >= warmup, processes.check, warm,
                     300, "the warm-up rows")  # fmt: skip
            pids = {"bridge": processes.bridge.pid, "worker": processes.worker.pid,
                    "moto": moto.pid}  # fmt: skip
            if (mariadbd := _server_pid(mysql)) is not None:
                pids["mariadbd"] = mariadbd
            queues = {"events": events_url, "tasks": tasks_url, "dead letters": dlq_url}
            sampler = Sampler(pids, queues, sqs, engine, interval)
            sampler.samples.append(sampler.take())
            sampler.start()
            click.echo(f"steady phase: {count} notifications at {rate:g}/s", err=True)
            feeder = PacedFeeder(sqs, events_url, bucket, keys[warmup:], rate)
            feeder.start()
            feeder.join()
            fed = time.monotonic()
            expected = warmup + count
            drained = _drained(lambda: _count(engine, "object_metadata") >= expected and
                               _depth(sqs, events_url) + _depth(sqs, tasks_url) == 0,
                               processes)  # fmt: skip
            drain_seconds = time.monotonic() - fed if drained else None
            sampler.finish()
            written = _row_times(engine, "SELECT object_key, updated_at FROM object_metadata")
        finally:
            processes.stop()
            engine.dispose()
    offset = sampler.started_wall
    return Soak(
        rate=rate,
        minutes=minutes,
        interval=interval,
        rss_bound=rss_bound,
        sent={key: at - offset for key, at in feeder.sent.items()},
        written={key: at - offset for key, at in written.items() if key in feeder.sent},
        samples=sampler.samples,
        errors=log_errors([logs / "bridge.log", logs / "worker.log"]),
        drain_seconds=drain_seconds,
    )


def _drained(condition: Any, processes: S3metaProcesses) -> bool:
    deadline = time.monotonic() + DRAIN_SECONDS
    while not condition():
        processes.check()
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@contextmanager
def _moto(logs: Path) -> Iterator[MotoServer]:
    server = MotoServer(logs / "moto.log")
    try:
        yield server
    finally:
        server.stop()


@click.command(help=__doc__.splitlines()[0] if __doc__ else None)
@click.option("--rate", type=click.FloatRange(min=0.1), default=30, show_default=True,
              help="notifications per second")  # fmt: skip
@click.option("--minutes", type=click.FloatRange(min=0.1), default=30, show_default=True)
@click.option("--interval", type=click.FloatRange(min=1), default=30, show_default=True,
              help="seconds per reported interval and between samples")  # fmt: skip
@click.option("--warmup", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--rss-bound", type=click.FloatRange(min=0), default=10, show_default=True,
              help="percent of RSS growth, start to end of the steady phase, to flag")  # fmt: skip
@click.option("--mysql", envvar="S3META_TEST_MYSQL_URL", default="mysql+pymysql://root@127.0.0.1",
              show_default=True)  # fmt: skip
@click.option("--logs", type=click.Path(file_okay=False, path_type=Path),
              help="keep the processes' logs here (default: a temporary folder)")  # fmt: skip
def main(logs: Path | None, **values: Any) -> None:
    try:
        with _logs_folder(logs) as folder:
            result = soak(logs=folder, **values)
    except (RuntimeError, TimeoutError, OSError, sa.exc.SQLAlchemyError, BotoCoreError,
            ClientError) as error:  # fmt: skip
        hint = "" if logs else " (--logs DIR keeps the processes' logs)"
        raise click.ClickException(f"{str(error).splitlines()[0]}{hint}") from None
    click.echo(report(result))


if __name__ == "__main__":
    main()
