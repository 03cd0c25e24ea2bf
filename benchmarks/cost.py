"""What each object costs: the seed's design against s3meta, side by side in one run.

Both designs index the same pre-uploaded objects from notifications streamed onto an SQS
queue kept at most ``--depth`` deep (moto's SQS costs O(depth) per call), against one moto
server and MariaDB, each run in a scratch database and on queues of its own:

- seed: ``benchmarks.seed``, one process: receive one message, HeadObject, INSERT + COMMIT,
  DeleteMessage;
- s3meta: the ``s3meta bridge`` and ``celery -A tasks worker`` processes, as deployed.

Per object, over a window from the first notification to a quiet pipeline (every row,
attempt and Celery result written, the events and task queues empty), after ``--warmup``
objects that pay for lazy set-up:

- CPU (user + system, from /proc) of the design's own processes -- the seed's process;
  s3meta's bridge, worker main process and pool children (exited ones included) -- and
  apart from them moto's, mariadbd's, the relays' and harness's, and the rest of the
  machine's;
- AWS requests by operation and queue, counted at an HTTP relay in front of moto with a
  listener per client role (the harness's feeder and polls are counted apart);
- MySQL commands by statement, counted at a MySQL-protocol relay in front of MariaDB;
  round trips are the commands the server answers;
- throughput: objects per second from the first notification to the last row, once per
  ``--aws-latency-ms`` (the relay holds each design request that long, as a network
  round trip to AWS would).

A separate phase, at each ``--aws-latency-ms``, sends notifications at a steady ``--rate``
(one SendMessage each, as S3 does) and reports event-to-row latency (notification sent to
the row's timestamp; p50, p99), each process's RSS and PSS (a forked pool child's shared
pages count once, split among the processes sharing them), and the same per-object figures
over that phase: at a low rate a receive brings a message or two, so requests per object
grow where batches do not fill. ``--bridge-delete-delay`` and ``--bridge-batch-window`` are
passed to ``s3meta bridge``.

Every figure is ``median [min..max]`` over ``--repeat`` runs; runs alternate the designs'
order. moto's CPU is part of every figure on a machine that runs it: it is shown apart.

    .venv/bin/python -m benchmarks.cost --objects 1000 --repeat 3
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
import click
import sqlalchemy as sa
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import URL, make_url

from benchmarks import seed
from benchmarks.figures import percentile, ratio, spread, table
from benchmarks.harness import (
    AWS,
    PROJECT,
    Feeder,
    PacedFeeder,
    S3metaProcesses,
    feed,
    mysql_option,
    queue_names,
    scratch_database,
    upload,
    wait_fed,
)
from benchmarks.procstat import (
    command_line,
    descendants,
    machine_busy,
    proportional_set,
    read_stat,
    tree_cpu,
)
from benchmarks.relays import NO_REPLY, ListenerSpec, RelayProcess, Tally
from db.engine import create_engine
from s3meta.processes import MotoServer, stop_process

DESIGNS = ("seed", "s3meta")
# The relay's listeners: the harness's own (never delayed), and each design process's.
HARNESS = "harness"
AWS_LISTENERS = {"seed": ("seed",), "s3meta": ("bridge", "worker")}
DB_LISTENERS = {"seed": ("seed-db",), "s3meta": ("bridge-db", "worker-db")}
# Issue 13's targets, beside the figures they bound.
CPU_TARGET = "<= 1.0x seed (aim: 4 ms)"
REQUESTS_TARGET = "<= 1.6"
ROUND_TRIPS_TARGET = "<= 5"
THROUGHPUT_TARGETS = {0.0: ">= 1.5x seed", 15.0: ">= 4x seed"}
SETTLE_SECONDS = 60  # the most a pipeline may take to go quiet after its last row


@dataclass(frozen=True)
class Options:
    objects: int
    repeat: int
    latencies: list[float]
    designs: list[str]
    rate: float
    rate_objects: int
    warmup: int
    depth: int
    worker_pool: str
    worker_concurrency: int
    bridge_concurrency: int
    mysql: str
    timeout: float
    bridge_delete_delay: float | None = None  # None: the bridge's default
    bridge_batch_window: float = 0.0


@dataclass
class Phase:
    """One design's run at one AWS latency: what its window cost."""

    design: str
    aws_latency_ms: float
    objects: int
    seconds: float  # first notification to the last row
    window: float  # first notification to quiet
    quiet: bool
    cpu: dict[str, float]  # the design's processes, by role
    moto: float
    mariadbd: float | None  # None: the server is not on this machine
    bench: float  # the relays and the harness
    busy: float  # the whole machine
    requests: dict[str, int]  # by "Operation[queue role]"
    items: dict[str, int]  # batch entries, messages received
    harness_requests: dict[str, int]
    commands: dict[str, int]  # by statement or command


@dataclass
class RatePhase:
    """One design's run at a steady rate: latency, memory, and what the phase cost."""

    design: str
    aws_latency_ms: float
    rate: float
    latencies_ms: list[float]
    rss_mb: dict[str, float] = field(default_factory=dict)
    pss_mb: dict[str, float] = field(default_factory=dict)
    cost: Phase | None = None


class Design(Protocol):
    """A design running against the bench's relays, in one scratch database."""

    events_url: str
    queue_roles: dict[str, str]

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each of the design's processes (or process trees), by role."""

    def memory(self) -> dict[str, Memory]:
        """Resident memory (RSS, PSS) of each process, by role."""

    def rows(self) -> int:
        """Rows written so far."""

    def quiet(self, expected: int) -> bool:
        """Whether all ``expected`` objects are written through and no message is left."""

    def row_times(self) -> dict[str, float]:
        """When each key's row was written, in wall-clock seconds."""

    def check(self) -> None:
        """RuntimeError if a process of the design has exited."""

    def stop(self) -> None:
        """Stop the processes and delete the queues."""


@dataclass(frozen=True)
class Memory:
    """One process's resident memory in MB: RSS, and PSS when the kernel says."""

    rss_mb: float
    pss_mb: float | None

    @classmethod
    def of(cls, pid: int) -> Memory:
        stat, pss = read_stat(pid), proportional_set(pid)
        return cls(stat.rss / 2**20 if stat else 0.0, None if pss is None else pss / 2**20)

    @classmethod
    def total(cls, parts: list[Memory]) -> Memory:
        shares = [part.pss_mb for part in parts]
        known = None if any(share is None for share in shares) else sum(s or 0.0 for s in shares)
        return cls(sum(part.rss_mb for part in parts), known)


@dataclass
class Snapshot:
    """Every cumulative counter at one moment; a window is the difference of two."""

    at: float
    cpu: dict[str, float]
    moto: float
    mariadbd: float | None
    bench: float
    busy: float
    tallies: dict[str, Tally]


class Bench:
    """moto, the relays and the objects, shared by every phase."""

    def __init__(self, options: Options, logs: Path) -> None:
        self.options = options
        self.logs = logs
        self._stack = ExitStack()
        try:
            self._start(make_url(options.mysql))
        except BaseException:
            self._stack.close()
            raise

    def _start(self, server: URL) -> None:
        options, logs = self.options, self.logs
        self.moto = MotoServer(logs / "moto.log")
        self._stack.callback(self.moto.stop)
        self.moto_pid = _child_running("s3meta.moto_server", str(self.moto.port))
        self.mariadbd_pid = _server_pid(options.mysql)
        aws = ("127.0.0.1", self.moto.port)
        mysql = (server.host or "127.0.0.1", server.port or 3306)
        specs = [ListenerSpec(HARNESS, "http", aws)]
        specs += [
            ListenerSpec(name, "http", aws, delayed=True)
            for names in AWS_LISTENERS.values()
            for name in names
        ]
        specs += [
            ListenerSpec(name, "mysql", mysql) for names in DB_LISTENERS.values() for name in names
        ]
        self.relay = RelayProcess(specs, logs / "relay.log")
        self._stack.callback(self.relay.stop)
        self.sqs = _client("sqs", self.relay.url(HARNESS))
        self.bucket = f"bench-{uuid.uuid4().hex[:8]}"
        # Uploaded directly to moto: the upload is not measured.
        keys = upload(
            _client("s3", self.moto.url),
            self.bucket,
            options.warmup + max(options.objects, options.rate_objects if options.rate else 0),
        )
        self.warm_keys = keys[: options.warmup]
        self.keys = keys[options.warmup : options.warmup + options.objects]
        self.rate_keys = keys[options.warmup : options.warmup + options.rate_objects]

    def close(self) -> None:
        self._stack.close()

    def relayed(self, database_url: str, listener: str) -> str:
        """``database_url`` through the relay's ``listener``."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.relay.ports[listener])
        return url.render_as_string(hide_password=False)

    @contextmanager
    def running(self, name: str, tag: str) -> Iterator[Design]:
        """Design ``name`` in a scratch database, warmed up; its logs in a folder ``tag``."""
        logs = self.logs / tag
        logs.mkdir(exist_ok=True)
        with scratch_database(self.options.mysql) as database_url:
            engine = create_engine(database_url)
            design: Design
            try:
                if name == "seed":
                    design = SeedDesign(self, database_url, engine, logs)
                else:
                    design = S3metaDesign(self, database_url, engine, logs)
                try:
                    warm = len(self.warm_keys)
                    feeder = feed(
                        self.sqs, design.events_url, self.bucket, self.warm_keys, self.options.depth
                    )
                    self.until(lambda: design.rows() >= warm, design, feeder, "the warm-up rows")
                    self.settle(design, warm)
                    yield design
                finally:
                    design.stop()
            finally:
                engine.dispose()

    def until(
        self, condition: Callable[[], bool], design: Design, feeder: Feeder | PacedFeeder, what: str
    ) -> None:
        wait_fed(condition, design.check, feeder, self.options.timeout, what)

    def settle(self, design: Design, expected: int) -> bool:
        """Wait for ``design`` to go quiet; whether it did within SETTLE_SECONDS."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while not design.quiet(expected):
            design.check()
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def snapshot(self, design: Design) -> Snapshot:
        mariadbd = read_stat(self.mariadbd_pid) if self.mariadbd_pid else None
        harness = read_stat(os.getpid())
        return Snapshot(
            at=time.monotonic(),
            cpu=design.cpu(),
            moto=tree_cpu(self.moto_pid).total,
            mariadbd=mariadbd.own if mariadbd else None,
            bench=tree_cpu(self.relay.pid).total + (harness.own if harness else 0.0),
            busy=machine_busy(),
            tallies=self.relay.counts(),
        )

    def throughput(self, name: str, latency_ms: float, tag: str) -> Phase:
        self.relay.set_delay(latency_ms / 1000)
        expected = len(self.warm_keys) + len(self.keys)
        with self.running(name, tag) as design:
            before = self.snapshot(design)
            started = time.monotonic()
            feeder = feed(
                self.sqs, design.events_url, self.bucket, self.keys, self.options.depth, poll=0.05
            )
            self.until(lambda: design.rows() >= expected, design, feeder, f"{expected} rows")
            seconds = time.monotonic() - started
            quiet = self.settle(design, expected)
            after = self.snapshot(design)
        return _phase(name, latency_ms, len(self.keys), seconds, quiet, before, after, design)

    def steady(self, name: str, latency_ms: float, tag: str) -> RatePhase:
        self.relay.set_delay(latency_ms / 1000)
        expected = len(self.warm_keys) + len(self.rate_keys)
        with self.running(name, tag) as design:
            before = self.snapshot(design)
            started = time.monotonic()
            feeder = PacedFeeder(
                self.sqs, design.events_url, self.bucket, self.rate_keys, self.options.rate
            )
            feeder.start()
            self.until(lambda: design.rows() >= expected, design, feeder, f"{expected} rows")
            seconds = time.monotonic() - started
            memory = design.memory()
            written = design.row_times()
            quiet = self.settle(design, expected)
            after = self.snapshot(design)
        cost = _phase(name, latency_ms, len(self.rate_keys), seconds, quiet, before, after, design)
        latencies = [(written[key] - sent) * 1000 for key, sent in feeder.sent.items()]
        return RatePhase(
            name,
            latency_ms,
            self.options.rate,
            latencies,
            rss_mb={role: each.rss_mb for role, each in memory.items()},
            pss_mb={role: each.pss_mb for role, each in memory.items() if each.pss_mb is not None},
            cost=cost,
        )


class SeedDesign:
    """``benchmarks.seed`` in a process of its own, through the seed's listeners."""

    def __init__(self, bench: Bench, database_url: str, engine: sa.Engine, logs: Path) -> None:
        self._bench, self._engine = bench, engine
        with engine.begin() as connection:
            connection.execute(seed.SEED_TABLE)
        name = f"seed-{uuid.uuid4().hex[:8]}"
        self.events_url = str(bench.sqs.create_queue(QueueName=name)["QueueUrl"])
        self.queue_roles = {name: "events"}
        self._log_path = logs / "seed.log"
        self._log = self._log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "benchmarks.seed", self.events_url,
             bench.relayed(database_url, "seed-db")],
            env={**os.environ, **AWS, "AWS_ENDPOINT_URL": bench.relay.url("seed")},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=PROJECT,
        )  # fmt: skip

    def cpu(self) -> dict[str, float]:
        return {"seed process": tree_cpu(self._process.pid).total}

    def memory(self) -> dict[str, Memory]:
        return {"seed process": Memory.of(self._process.pid)}

    def rows(self) -> int:
        return _count(self._engine, "seed_metadata")

    def quiet(self, expected: int) -> bool:
        return self.rows() >= expected and _depth(self._bench.sqs, self.events_url) == 0

    def row_times(self) -> dict[str, float]:
        return _row_times(self._engine, "SELECT object_key, indexed_at FROM seed_metadata")

    def check(self) -> None:
        if self._process.poll() is not None:
            raise RuntimeError(
                f"the seed process exited with {self._process.returncode}; see {self._log_path}"
            )

    def stop(self) -> None:
        stop_process(self._process, timeout=10)
        self._log.close()
        self._bench.sqs.delete_queue(QueueUrl=self.events_url)


class S3metaDesign:
    """s3meta's bridge and worker, each through its own listeners."""

    def __init__(self, bench: Bench, database_url: str, engine: sa.Engine, logs: Path) -> None:
        self._bench, self._engine = bench, engine
        names = queue_names(uuid.uuid4().hex[:8])
        sqs = bench.sqs
        self.events_url = str(sqs.create_queue(QueueName=names["S3META_EVENTS_QUEUE"])["QueueUrl"])
        self._dlq_url = str(
            sqs.create_queue(QueueName=names["S3META_DEAD_LETTER_QUEUE"])["QueueUrl"]
        )
        self.queue_roles = {
            names["S3META_EVENTS_QUEUE"]: "events",
            names["S3META_TASK_QUEUE"]: "tasks",
            names["S3META_DEAD_LETTER_QUEUE"]: "dead letters",
        }

        def env(role: str) -> dict[str, str]:
            return {
                **AWS,
                **names,
                "AWS_ENDPOINT_URL": bench.relay.url(role),
                "S3META_DATABASE_URL": bench.relayed(database_url, f"{role}-db"),
            }

        self._processes = S3metaProcesses(
            env("bridge"),
            env("worker"),
            logs,
            worker_pool=bench.options.worker_pool,
            worker_concurrency=bench.options.worker_concurrency,
            bridge_concurrency=bench.options.bridge_concurrency,
            bridge_args=_bridge_args(bench.options),
        )
        try:
            tasks = sqs.get_queue_url(QueueName=names["S3META_TASK_QUEUE"])
        except BaseException:
            self._processes.stop()
            raise
        self._tasks_url = str(tasks["QueueUrl"])

    def cpu(self) -> dict[str, float]:
        worker = tree_cpu(self._processes.worker.pid)
        return {
            "bridge": tree_cpu(self._processes.bridge.pid).total,
            "worker main process": worker.root,
            "worker pool": worker.children,
        }

    def memory(self) -> dict[str, Memory]:
        found = {
            "bridge": Memory.of(self._processes.bridge.pid),
            "worker main process": Memory.of(self._processes.worker.pid),
        }
        children = sorted(stat.pid for stat in descendants(self._processes.worker.pid))
        for number, pid in enumerate(children, 1):
            found[f"worker pool child {number}"] = Memory.of(pid)
        if children:
            found["worker, all processes"] = Memory.total(
                [found["worker main process"], *list(found.values())[2:]]
            )
        return found

    def rows(self) -> int:
        return _count(self._engine, "object_metadata")

    def quiet(self, expected: int) -> bool:
        written = all(
            _count(self._engine, table) >= expected
            for table in ("object_metadata", "task_attempts", "celery_taskmeta")
        )
        sqs = self._bench.sqs
        return written and _depth(sqs, self.events_url) + _depth(sqs, self._tasks_url) == 0

    def row_times(self) -> dict[str, float]:
        return _row_times(self._engine, "SELECT object_key, updated_at FROM object_metadata")

    def check(self) -> None:
        self._processes.check()

    def stop(self) -> None:
        self._processes.stop()
        for url in (self.events_url, self._dlq_url, self._tasks_url):
            self._bench.sqs.delete_queue(QueueUrl=url)


def _phase(
    name: str,
    latency_ms: float,
    objects: int,
    seconds: float,
    quiet: bool,
    before: Snapshot,
    after: Snapshot,
    design: Design,
) -> Phase:
    def tally(listeners: tuple[str, ...]) -> Tally:
        total = Tally()
        for listener in listeners:
            spent = after.tallies[listener] - before.tallies[listener]
            for label, count in spent.calls.items():
                total.calls[_role_label(label, design.queue_roles)] += count
            for label, count in spent.items.items():
                total.items[_role_label(label, design.queue_roles)] += count
        return total

    requests, commands = tally(AWS_LISTENERS[name]), tally(DB_LISTENERS[name])
    mariadbd = None
    if after.mariadbd is not None and before.mariadbd is not None:
        mariadbd = after.mariadbd - before.mariadbd
    return Phase(
        design=name,
        aws_latency_ms=latency_ms,
        objects=objects,
        seconds=seconds,
        window=after.at - before.at,
        quiet=quiet,
        cpu={role: after.cpu[role] - before.cpu[role] for role in after.cpu},
        moto=after.moto - before.moto,
        mariadbd=mariadbd,
        bench=after.bench - before.bench,
        busy=after.busy - before.busy,
        requests=dict(requests.calls),
        items=dict(requests.items),
        harness_requests=dict(tally((HARNESS,)).calls),
        commands=dict(commands.calls),
    )


def _role_label(label: str, roles: dict[str, str]) -> str:
    """``ReceiveMessage[tasks-1a2b]`` as ``ReceiveMessage[tasks]``: queues by their role."""
    if not label.endswith("]") or "[" not in label:
        return label
    op, queue = label[:-1].split("[", 1)
    role = roles.get(queue) or next(
        (kind for kind in ("pidbox", "celeryev") if kind in queue), "other queue"
    )
    return f"{op}[{role}]"


# ---- the report ----------------------------------------------------------------------


def report(phases: list[Phase], rates: list[RatePhase], options: Options) -> str:
    """The table of every figure, per AWS latency, then the steady-rate phase's."""
    designs = [name for name in DESIGNS if name in options.designs]
    header = [
        "per object",
        *designs,
        "s3meta/seed" if len(designs) == 2 else "",
        "target (issue 13)",
    ]
    rows: list[list[str]] = []
    for latency in options.latencies:
        by = {
            d: [p for p in phases if p.design == d and p.aws_latency_ms == latency] for d in designs
        }
        runs = len(by[designs[0]])
        title = f"== {latency:g} ms added per AWS request: {options.objects} objects, {runs} run(s)"
        rows += [[""], [f"{title} each; median [min..max] =="], header]
        rows += _throughput_rows(by, THROUGHPUT_TARGETS.get(latency, ""))
    for latency in dict.fromkeys(rate.aws_latency_ms for rate in rates):
        at = [rate for rate in rates if rate.aws_latency_ms == latency]
        rows += _rate_rows(at, designs, header, options)
    return table(rows, align="l" + "r" * (len(designs) + 1) + "l")


Figure = Callable[[Phase], float | None]


def _throughput_rows(by: dict[str, list[Phase]], throughput_target: str) -> list[list[str]]:
    designs = list(by)
    phases = [phase for d in designs for phase in by[d]]
    rows: list[list[str]] = []

    def row(
        title: str,
        value: Figure,
        digits: int = 2,
        target: str = "",
        compare: bool = False,
    ) -> None:
        values = {d: [v for p in by[d] if (v := value(p)) is not None] for d in designs}
        shown = ratio(values["s3meta"], values["seed"]) if compare and len(designs) == 2 else ""
        rows.append([title, *(spread(values[d], digits) for d in designs), shown, target])

    def per_object(counts: Callable[[Phase], dict[str, int]], label: str) -> Figure:
        present = {d: any(label in counts(p) for p in by[d]) for d in designs}
        return lambda p: counts(p).get(label, 0) / p.objects if present[p.design] else None

    def cpu_of(role: str) -> Figure:
        return lambda p: _ms(p.cpu[role], p) if role in p.cpu else None

    def per_call(label: str) -> Figure:
        return lambda p: (
            p.items.get(label, 0) / p.requests[label] if p.requests.get(label) else None
        )

    row("throughput, objects/s", lambda p: p.objects / p.seconds, 1, throughput_target, True)
    row("CPU ms, the design's processes", lambda p: _ms(sum(p.cpu.values()), p), 2, CPU_TARGET,
        True)  # fmt: skip
    for role in _union(p.cpu for p in phases):
        row(f"  {role}", cpu_of(role))
    row("CPU ms, moto", lambda p: _ms(p.moto, p), compare=True)
    row("CPU ms, mariadbd", lambda p: None if p.mariadbd is None else _ms(p.mariadbd, p),
        compare=True)  # fmt: skip
    row("CPU ms, relays and harness", lambda p: _ms(p.bench, p))
    row("CPU ms, rest of the machine", lambda p: _ms(p.busy - _known(p), p))
    row("moto, % of the machine's CPU", lambda p: 100 * p.moto / p.busy if p.busy else None, 0)
    row(f"cores busy (of {os.cpu_count()})", lambda p: p.busy / p.window)
    row("AWS requests", lambda p: sum(p.requests.values()) / p.objects, 2, REQUESTS_TARGET, True)
    for label in _union(p.requests for p in phases):
        row(f"  {label}", per_object(lambda p: p.requests, label), 3)
        if any(label in p.items for p in phases):
            what = "messages" if label.startswith("ReceiveMessage") else "entries"
            row(f"    {what} per call", per_call(label), 1)
    row("MySQL round trips", lambda p: _round_trips(p) / p.objects, 2, ROUND_TRIPS_TARGET, True)
    for label in _union(p.commands for p in phases):
        row(f"  {label}", per_object(lambda p: p.commands, label))
    row(
        "harness's AWS requests (in moto's CPU)",
        lambda p: sum(p.harness_requests.values()) / p.objects,
    )
    if not all(p.quiet for p in phases):
        rows.append([f"(a run was not quiet {SETTLE_SECONDS} s after its last row)"])
    return rows


def _rate_rows(
    rates: list[RatePhase], designs: list[str], header: list[str], options: Options
) -> list[list[str]]:
    by = {d: [r for r in rates if r.design == d] for d in designs}
    rows = [[""], [f"== steady {options.rate:g} objects/s, {rates[0].aws_latency_ms:g} ms added:"
                   f" {options.rate_objects} objects; median [min..max] =="],
            ["", *header[1:]]]  # fmt: skip

    def row(title: str, value: Callable[[RatePhase], float | None], digits: int = 1) -> None:
        values = {d: [v for r in by[d] if (v := value(r)) is not None] for d in designs}
        shown = ratio(values["s3meta"], values["seed"]) if len(designs) == 2 else ""
        rows.append([title, *(spread(values[d], digits) for d in designs), shown, ""])

    row("event-to-row latency p50, ms", lambda r: percentile(r.latencies_ms, 50))
    row("event-to-row latency p99, ms", lambda r: percentile(r.latencies_ms, 99))

    def rss_of(role: str) -> Callable[[RatePhase], float | None]:
        return lambda r: r.rss_mb.get(role)

    def pss_of(role: str) -> Callable[[RatePhase], float | None]:
        return lambda r: r.pss_mb.get(role)

    for role in _union(r.rss_mb for d in designs for r in by[d]):
        row(f"RSS MB, {role}", rss_of(role))
    for role in _union(r.pss_mb for d in designs for r in by[d]):
        row(f"PSS MB, {role}", pss_of(role))
    costs = {d: [r.cost for r in by[d] if r.cost is not None] for d in designs}
    if any(costs.values()):
        rows.append(["-- per object, over the steady phase --"])
        rows += _throughput_rows(costs, f"= {options.rate:g} (the rate)")
    return rows


def _ms(seconds: float, phase: Phase) -> float:
    return seconds * 1000 / phase.objects


def _known(phase: Phase) -> float:
    return sum(phase.cpu.values()) + phase.moto + (phase.mariadbd or 0.0) + phase.bench


def _round_trips(phase: Phase) -> int:
    return sum(count for kind, count in phase.commands.items() if kind not in NO_REPLY)


def _union(dicts: Iterator[dict[str, Any]]) -> list[str]:
    """Every key of ``dicts``, in the order first seen."""
    return list(dict.fromkeys(key for one in dicts for key in one))


# ---- small helpers -------------------------------------------------------------------


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=AWS["AWS_REGION"],
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )


def _child_running(*arguments: str) -> int:
    """The pid of this process's descendant whose arguments include all of ``arguments``."""
    for stat in descendants(os.getpid()):
        if set(arguments) <= set(command_line(stat.pid)):
            return stat.pid
    raise RuntimeError(f"no process runs with {' '.join(arguments)}")


def _server_pid(server_url: str) -> int | None:
    """The MySQL server's pid, from its pid file; None if that is not on this machine."""
    engine = sa.create_engine(server_url)
    try:
        with engine.connect() as connection:
            pid_file = str(connection.execute(sa.text("SELECT @@pid_file")).scalar_one())
    finally:
        engine.dispose()
    try:
        return int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        return None


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as connection:
        query = sa.text(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - our own table names
        return int(connection.execute(query).scalar_one())


def _depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return sum(int(value) for value in attributes["Attributes"].values())


def _row_times(engine: sa.Engine, query: str) -> dict[str, float]:
    """Each row's key and UTC timestamp, as wall-clock seconds."""
    with engine.connect() as connection:
        rows = connection.execute(sa.text(query)).all()
    return {
        (key.decode() if isinstance(key, bytes) else key): _utc(stamp).timestamp()
        for key, stamp in rows
    }


def _utc(stamp: datetime) -> datetime:
    return stamp.replace(tzinfo=UTC)


# ---- the command ---------------------------------------------------------------------


def _floats(_: click.Context, __: click.Parameter, value: str) -> list[float]:
    try:
        numbers = [float(item) for item in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None
    if any(number < 0 for number in numbers):
        raise click.BadParameter("latencies cannot be negative")
    return numbers


def _designs(_: click.Context, __: click.Parameter, value: str) -> list[str]:
    names = [item.strip() for item in value.split(",") if item.strip()]
    unknown = sorted(set(names) - set(DESIGNS))
    if unknown or not names:
        raise click.BadParameter(f"choose from {', '.join(DESIGNS)} (got {value!r})")
    return names


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--objects", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="runs of each design per setting; figures are their median",
)
@click.option(
    "--aws-latency-ms",
    "latencies",
    default="0,15",
    show_default=True,
    callback=_floats,
    help="comma-separated: ms the relay adds to each AWS request",
)
@click.option("--designs", default="seed,s3meta", show_default=True, callback=_designs)
@click.option(
    "--rate",
    type=click.FloatRange(min=0),
    default=20,
    show_default=True,
    help="objects/s of the latency phase (0: no latency phase)",
)
@click.option("--rate-objects", type=click.IntRange(min=1), default=300, show_default=True)
@click.option(
    "--warmup",
    type=click.IntRange(min=1),
    default=40,
    show_default=True,
    help="objects indexed before each window opens",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="most notifications the feeder keeps queued",
)
@click.option(
    "--worker-pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="threads",
    show_default=True,
    help="the worker's pool (threads: the deployed default)",
)
@click.option("--worker-concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--bridge-concurrency", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--bridge-delete-delay",
    type=click.FloatRange(min=0),
    default=None,
    help="s3meta bridge --delete-delay (0: delete each loop's messages at once) "
    "[default: the bridge's]",
)
@click.option(
    "--bridge-batch-window",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="s3meta bridge --batch-window",
)
@mysql_option("the MySQL/MariaDB server, for scratch databases")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=600,
    show_default=True,
    help="seconds a run may take to write its rows",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write every run's raw figures here",
)
@click.option(
    "--logs",
    type=click.Path(file_okay=False, path_type=Path),
    help="keep the processes' logs here (default: a temporary folder)",
)
def main(json_path: Path | None, logs: Path | None, **values: Any) -> None:  # fmt: skip
    options = Options(**values)
    try:
        with _logs_folder(logs) as folder:
            phases, rates = run(options, folder)
    except (
        RuntimeError,
        TimeoutError,
        OSError,
        sa.exc.SQLAlchemyError,
        BotoCoreError,
        ClientError,
    ) as error:
        hint = "" if logs else " (--logs DIR keeps the processes' logs)"
        raise click.ClickException(f"{str(error).splitlines()[0]}{hint}") from None
    click.echo(report(phases, rates, options))
    if json_path:
        document = {"options": asdict(options), "throughput": phases, "rate": rates}
        json_path.write_text(json.dumps(document, default=asdict, indent=1))


def run(options: Options, logs: Path) -> tuple[list[Phase], list[RatePhase]]:
    """Every phase of ``options``, with progress on stderr."""
    bench = Bench(options, logs)
    phases: list[Phase] = []
    rates: list[RatePhase] = []
    try:
        click.echo(
            f"{len(bench.keys)} objects in s3://{bench.bucket}; moto pid {bench.moto_pid},"
            f" mariadbd pid {bench.mariadbd_pid}; logs in {logs}",
            err=True,
        )
        for latency in options.latencies:
            for rep in range(options.repeat):
                for name in _order(options.designs, rep):
                    phase = bench.throughput(name, latency, f"{name}-{latency:g}ms-{rep + 1}")
                    phases.append(phase)
                    click.echo(
                        f"  {latency:g} ms, run {rep + 1}, {name}:"
                        f" {phase.objects / phase.seconds:.1f} objects/s,"
                        f" {_ms(sum(phase.cpu.values()), phase):.1f} ms CPU per object"
                        f" (moto {_ms(phase.moto, phase):.1f})",
                        err=True,
                    )
        for latency in options.latencies if options.rate else []:
            for rep in range(options.repeat):
                for name in _order(options.designs, rep):
                    tag = f"{name}-rate-{latency:g}ms-{rep + 1}"
                    rate = bench.steady(name, latency, tag)
                    rates.append(rate)
                    click.echo(
                        f"  {options.rate:g} objects/s, {latency:g} ms, run {rep + 1}, {name}:"
                        f" p50 {percentile(rate.latencies_ms, 50):.0f} ms, p99"
                        f" {percentile(rate.latencies_ms, 99):.0f} ms",
                        err=True,
                    )
    finally:
        bench.close()
    return phases, rates


def _bridge_args(options: Options) -> list[str]:
    """``s3meta bridge``'s options beyond its concurrency, as the bench was asked."""
    found = ["--batch-window", f"{options.bridge_batch_window:g}"]
    if options.bridge_delete_delay is not None:
        found += ["--delete-delay", f"{options.bridge_delete_delay:g}"]
    return found


def _order(designs: list[str], rep: int) -> list[str]:
    return designs if rep % 2 == 0 else designs[::-1]


@contextmanager
def _logs_folder(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="s3meta-cost-") as folder:
        yield Path(folder)


if __name__ == "__main__":
    main()
