"""Chaos: the whole pipeline under simultaneous faults, then the table compared with S3.

Real S3 notifications from a moto bucket (puts, overwrites and deletes on a few hundred
awkward keys) reach one ``s3meta bridge`` and two ``celery -A tasks worker`` processes
(threads x8, as deployed) through a fault proxy that answers a share of S3 requests 503
(SlowDown, ServiceUnavailable) and of SQS calls 500 (InternalError). Meanwhile a worker is
killed with SIGKILL every few seconds and started again, the bridge is killed once, and the
test's own MariaDB server once. Visibility timeouts and task time limits are short, so that
what the killed processes held comes back within the test.

Then the faults stop and the pipeline drains: no key is missing, no row is stale (its ETag
and size are S3's), no row is alive for a deleted object, no message is left on the events
or task queue, nothing is dead-lettered and no task failed for good.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
import sqlalchemy as sa

from s3meta.aws.sqs import Queue
from s3meta.processes import WorkerProcess, stop_process, wait_for
from tests.support import keys
from tests.support.database import ROOT
from tests.support.faults import FaultProxy
from tests.support.mariadb import MariaDB, private_mariadb
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(300)]

KEYS = 240
OPERATIONS = 360  # overwrites, deletes and puts again, after a first put of every key
CHAOS_SECONDS = 45  # the operations are spread over this long; the kills happen meanwhile
WORKER_KILL_EVERY = 4.0  # each worker lives this long after it is ready, at least
MIN_WORKER_KILLS = 5  # the restarts, the bridge and database kills take some of the time
LATE_KILL_SECONDS = 30  # how long after the operations worker kills may go on, at most
BRIDGE_KILL_AT = 12.0
DATABASE_KILL_AT = 24.0
S3_FAULT_SHARE = 0.1
SQS_FAULT_SHARE = 0.03
DRAIN_TIMEOUT = 120
SEED = 20261203
# Short, so that what a killed process held is handed out again within the test; the
# settings require RETRY_BACKOFF_MAX + TASK_TIME_LIMIT < VISIBILITY_TIMEOUT.
PIPELINE_ENV = {
    "S3META_VISIBILITY_TIMEOUT": "12",
    "S3META_TASK_TIME_LIMIT": "6",
    "S3META_RETRY_BACKOFF": "1",
    "S3META_RETRY_BACKOFF_MAX": "4",
    "S3META_MAX_RETRIES": "12",
    "S3META_S3_MAX_ATTEMPTS": "2",
}
BRIDGE_VISIBILITY_TIMEOUT = "6"


def awkward_key(n: int) -> str:
    """The shared awkward shapes, and two more: a trailing space, punctuation."""
    extra = [f"chaos/{n}/trailing space ", f"chaos/{n}/~!@#$^&*()=[]{{}};'.,"]
    return extra[n % 8 - 6] if n % 8 >= 6 else keys.awkward_key(n, "chaos")


@dataclass
class Figures:
    operations: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    drain_seconds: float = 0.0
    s3_faults: int = 0
    sqs_faults: int = 0
    s3_requests: int = 0
    sqs_requests: int = 0

    def lines(self) -> str:
        ops = ", ".join(f"{count} {kind}" for kind, count in sorted(self.operations.items()))
        kills = ", ".join(f"{kind} x{count}" for kind, count in sorted(self.kills.items()))
        return (
            f"chaos: {sum(self.operations.values())} S3 operations ({ops}) on {KEYS} keys; "
            f"kill -9: {kills}; injected {self.s3_faults} S3 503s in {self.s3_requests} S3 "
            f"requests and {self.sqs_faults} SQS 500s in {self.sqs_requests} SQS calls; drained in "
            f"{self.drain_seconds:.1f} s"
        )


class Operations(threading.Thread):
    """Puts every key once, then overwrites, deletes and puts again at random, spread over
    ``seconds``, straight to moto (past the fault proxy): each one is a notification."""

    def __init__(self, s3: S3Client, bucket: str, figures: Figures, seconds: float) -> None:
        super().__init__(daemon=True)
        self._s3, self._bucket, self._figures, self._seconds = s3, bucket, figures, seconds
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(SEED)
        keys = [awkward_key(n) for n in range(KEYS)]
        plan = [("put", key) for key in keys]
        plan += [(rng.choice(("overwrite", "overwrite", "delete")), rng.choice(keys))
                 for _ in range(OPERATIONS)]  # fmt: skip
        present: set[str] = set()
        started = time.monotonic()
        try:
            for n, (kind, key) in enumerate(plan):
                time.sleep(max(0.0, started + n * self._seconds / len(plan) - time.monotonic()))
                if kind == "delete" and key in present:
                    self._s3.delete_object(Bucket=self._bucket, Key=key)
                    present.discard(key)
                else:
                    kind = "overwrite" if key in present else "put"
                    body = os.urandom(rng.randrange(1, 2048))
                    self._s3.put_object(Bucket=self._bucket, Key=key, Body=body)
                    present.add(key)
                self._figures.operations[kind] += 1
        except BaseException as error:
            self.error = error


class Pipeline:
    """One bridge and two workers on ``env``, each of which can be killed and started again."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._env, self._logs = env, logs
        self._started = Counter[str]()
        self.workers = [self._worker(), self._worker()]
        self._ready_at = [time.monotonic()] * 2
        # A killed worker's replacement starts in the background: the other one runs on.
        self._restarts: list[threading.Thread | None] = [None, None]
        self._restart_errors: list[BaseException] = []
        self.bridge = self._bridge()

    def _log(self, name: str) -> Path:
        self._started[name] += 1
        return self._logs / f"{name}-{self._started[name]}.log"

    def _worker(self) -> WorkerProcess:
        return WorkerProcess(
            self._env,
            self._log("worker"),
            pool="threads",
            concurrency=8,
            hostname=f"chaos-{uuid.uuid4().hex[:8]}@%h",
            cwd=ROOT,
        )

    def _bridge(self) -> subprocess.Popen[bytes]:
        log = self._log("bridge")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3META_"))}
        with log.open("wb") as output:  # the child keeps its own descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "s3meta.cli", "bridge", "--wait-seconds", "1",
                 "--visibility-timeout", BRIDGE_VISIBILITY_TIMEOUT],
                env={**inherited, **self._env},
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )  # fmt: skip
        wait_for(lambda: b"bridge: " in log.read_bytes() or process.poll() is not None, 30,
                 "the bridge to start")  # fmt: skip
        assert process.poll() is None, log.read_text()
        return process

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index``; its replacement starts in the background."""
        self._wait_restart(index)
        os.kill(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].stop()

        def restart() -> None:
            try:
                self.workers[index] = self._worker()
                self._ready_at[index] = time.monotonic()
            except BaseException as error:
                self._restart_errors.append(error)

        self._restarts[index] = threading.Thread(target=restart, daemon=True)
        self._restarts[index].start()  # type: ignore[union-attr]

    def longest_running(self, at_least: float) -> int | None:
        """The worker that has run longest, if for ``at_least`` seconds: one killed the moment
        it is ready would never take a task."""
        running = [n for n, restart in enumerate(self._restarts) if restart is None
                   or not restart.is_alive()]  # fmt: skip
        index = min(running, key=lambda n: self._ready_at[n], default=None)
        if index is None or time.monotonic() - self._ready_at[index] < at_least:
            return None
        return index

    def _wait_restart(self, index: int) -> None:
        restart = self._restarts[index]
        if restart is not None:
            restart.join(timeout=90)
            self._restarts[index] = None
        if self._restart_errors:
            raise self._restart_errors[0]

    def kill_bridge(self) -> None:
        self.bridge.kill()
        self.bridge.wait(timeout=10)
        self.bridge = self._bridge()

    def check(self) -> None:
        for index in range(len(self.workers)):
            self._wait_restart(index)
        for worker in self.workers:
            assert worker.describe().endswith(": running"), worker.describe()
        assert self.bridge.poll() is None, f"the bridge exited with {self.bridge.returncode}"

    def stop(self) -> None:
        for restart in self._restarts:
            if restart is not None:
                restart.join(timeout=90)
        for worker in self.workers:
            worker.stop()
        stop_process(self.bridge, timeout=30)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            for path in sorted(self._logs.glob("*.log"))
        )


def kill_database(server: MariaDB) -> None:
    """SIGKILL the server (InnoDB recovers at the next start) and start it again."""
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=10)
    server.process = None
    server.start()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[MariaDB, str]]:
    with private_mariadb(tmp_path / "mariadb") as server:
        yield server, server.new_database()


@pytest.fixture
def own_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.url)
    yield proxy
    proxy.stop()


def table_against_s3(s3: S3Client, bucket: str, database_url: str) -> list[str]:
    """What differs between the rows of ``bucket`` and its objects in S3; empty when equal."""
    objects: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            objects[item["Key"]] = (item["ETag"].strip('"'), item["Size"])
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT object_key, etag, size, is_deleted FROM object_metadata"
                    " WHERE bucket = :bucket"
                ),
                {"bucket": bucket},
            ).all()
    finally:
        engine.dispose()
    alive = {
        bytes(row.object_key).decode(): ((row.etag or "").strip('"'), row.size)
        for row in rows
        if not row.is_deleted
    }
    problems = [f"missing: {key!r}" for key in objects.keys() - alive.keys()]
    problems += [f"alive but deleted: {key!r}" for key in alive.keys() - objects.keys()]
    problems += [
        f"stale: {key!r} row {alive[key]} S3 {objects[key]}"
        for key in objects.keys() & alive.keys()
        if alive[key] != objects[key]
    ]
    return problems


def failed_for_good(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            query = "SELECT COUNT(*) FROM celery_taskmeta WHERE status = 'FAILURE'"
            return int(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_the_table_ends_equal_to_s3_through_kills_of_every_process_and_aws_errors(
    moto_server: MotoServer,
    own_proxy: FaultProxy,
    database: tuple[MariaDB, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, database_url = database
    run = uuid.uuid4().hex[:8]
    names = {
        "S3META_EVENTS_QUEUE": f"chaos-events-{run}",
        "S3META_DEAD_LETTER_QUEUE": f"chaos-dlq-{run}",
        "S3META_TASK_QUEUE": f"chaos-tasks-{run}",
    }
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    sqs = boto3.client("sqs", endpoint_url=moto_server.url)
    s3 = boto3.client("s3", endpoint_url=moto_server.url)
    events_url = sqs.create_queue(QueueName=names["S3META_EVENTS_QUEUE"])["QueueUrl"]
    sqs.create_queue(QueueName=names["S3META_DEAD_LETTER_QUEUE"])
    events_arn = sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])
    bucket = f"chaos-{run}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": events_arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                }
            ]
        },
    )
    env = {
        **AWS_TEST_ENV,
        **names,
        **PIPELINE_ENV,
        "AWS_ENDPOINT_URL": own_proxy.url,
        "AWS_ENDPOINT_URL_S3": own_proxy.url,
        "S3META_DATABASE_URL": database_url,
    }
    figures = Figures()
    (logs := tmp_path / "logs").mkdir()
    pipeline = Pipeline(env, logs)
    try:
        s3_faults = own_proxy.fail_share("s3", S3_FAULT_SHARE, seed=SEED)
        sqs_faults = own_proxy.fail_share("sqs", SQS_FAULT_SHARE, seed=SEED + 1)
        operations = Operations(s3, bucket, figures, CHAOS_SECONDS)
        operations.start()
        started = time.monotonic()
        next_worker_kill = WORKER_KILL_EVERY
        bridge_killed = database_killed = False
        while True:
            elapsed = time.monotonic() - started
            # A loaded machine starts workers slowly: killing goes on into the drain (tasks
            # still run there) until enough workers died, for a bounded while.
            if not operations.is_alive() and (
                figures.kills["worker"] >= MIN_WORKER_KILLS
                or elapsed >= CHAOS_SECONDS + LATE_KILL_SECONDS
            ):
                break
            if elapsed >= BRIDGE_KILL_AT and not bridge_killed:
                pipeline.kill_bridge()
                figures.kills["bridge"] += 1
                bridge_killed = True
            elif elapsed >= DATABASE_KILL_AT and not database_killed:
                kill_database(server)
                figures.kills["database"] += 1
                database_killed = True
            elif elapsed >= next_worker_kill and (
                (index := pipeline.longest_running(WORKER_KILL_EVERY)) is not None
            ):
                pipeline.kill_worker(index)
                figures.kills["worker"] += 1
                next_worker_kill = elapsed + WORKER_KILL_EVERY / 2
            if operations.is_alive():
                operations.join(timeout=0.2)
            else:
                time.sleep(0.2)  # the next look at the workers' ages
        assert operations.error is None, f"the S3 operations failed: {operations.error!r}"
        assert bridge_killed, "the operations ended before the bridge was killed"
        assert database_killed, "the operations ended before the database was killed"
        own_proxy.clear_share(s3_faults)
        own_proxy.clear_share(sqs_faults)
        figures.s3_faults, figures.sqs_faults = s3_faults.injected, sqs_faults.injected
        figures.s3_requests, figures.sqs_requests = s3_faults.drawn, sqs_faults.drawn

        drain_started = time.monotonic()
        events = Queue(sqs, names["S3META_EVENTS_QUEUE"])
        tasks = Queue(sqs, names["S3META_TASK_QUEUE"])
        problems: list[str] = ["not compared yet"]

        def drained() -> bool:
            nonlocal problems
            pipeline.check()
            if events.depth().total + tasks.depth().total:
                return False
            problems = table_against_s3(s3, bucket, database_url)
            return not problems

        try:
            wait_for(drained, DRAIN_TIMEOUT, "the pipeline to drain and the table to equal S3")
        except TimeoutError:
            pytest.fail(
                f"{len(problems)} difference(s), e.g. {problems[:5]}; events queue "
                f"{events.depth()}, task queue {tasks.depth()}\n{pipeline.logs()}"
            )
        figures.drain_seconds = time.monotonic() - drain_started
    finally:
        pipeline.stop()
        with capsys.disabled():
            print(f"\n{figures.lines()}")
    letters = Queue(sqs, names["S3META_DEAD_LETTER_QUEUE"]).depth().total
    assert letters == 0, f"{letters} valid notification(s) dead-lettered"
    assert failed_for_good(database_url) == 0
    assert figures.kills["worker"] >= MIN_WORKER_KILLS
    assert figures.s3_faults > 0
    assert figures.sqs_faults > 0
