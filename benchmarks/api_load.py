"""Key lookups per second through the API (``s3meta serve``), without and with the Redis cache.

Starts ``s3meta serve`` on a scratch database of ``--mysql`` holding ``--objects`` rows, then
``--clients`` threads each on a keep-alive HTTP connection ask for random keys
(``GET /objects/{bucket}/{key}``) until ``--requests`` lookups are done; latency is per
request, as the client sees it. With the cache (the Redis at ``--redis``, a key prefix of
its own, deleted afterwards) a first pass over every key fills it, as workers' write-through
would. Server and clients share this machine: the figures are of the whole, on it.

    .venv/bin/python -m benchmarks.api_load --objects 300 --requests 3000
"""

from __future__ import annotations

import http.client
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import click

from benchmarks.figures import percentile, spread, table
from benchmarks.harness import scratch_database
from db.engine import writer_engine
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.transitions import Change
from s3meta.processes import free_port, stop_process, wait_for
from s3meta.rediscache import scratch_prefix

BUCKET = "api-load"
TOKEN = "bench-token-" + uuid.uuid4().hex


@dataclass
class Run:
    """One measured pass: every request's latency (seconds), the wall time, the sources."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    sources: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def milliseconds(self, share: float) -> float:
        return percentile(self.latencies, share) * 1000


def seed_rows(database_url: str, count: int) -> list[str]:
    """``count`` rows as workers write them, with some user metadata each."""
    store = MetadataStore(writer_engine(database_url))
    keys = [f"load/{index:05d}/object-{index}.bin" for index in range(count)]
    now = datetime.now(UTC)
    for index, key in enumerate(keys):
        state = ObjectState(
            BUCKET,
            key,
            size=1000 + index,
            etag=f"{index:032x}",
            last_modified=now,
            content_type="application/octet-stream",
            user_metadata={"owner": "bench", "index": str(index)},
        )
        store.apply(Change(BUCKET, key, state, EventInfo(), now, f"seed-{index}"))
    return keys


@contextmanager
def serving(database_url: str, log: Path, **env: str) -> Iterator[int]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "s3meta.cli", "serve", "--port", str(port)],
            env={
                **os.environ,
                "S3META_DATABASE_URL": database_url,
                "S3META_API_TOKEN": TOKEN,
                "S3META_API_RATE_LIMIT": "100000",
                **env,
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: _answers(port) or process.poll() is not None, 60, "s3meta serve")
        if process.poll() is not None:
            raise click.ClickException(f"s3meta serve exited: {log.read_text()}")
        yield port
    finally:
        stop_process(process, 10)


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def lookups(port: int, keys: Sequence[str], requests: int, clients: int, seed: int) -> Run:
    """``requests`` lookups of random ``keys`` by ``clients`` threads."""
    run = Run()
    lock = threading.Lock()
    remaining = [requests]

    def client(number: int) -> None:
        chooser = random.Random(seed * 1000 + number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        mine: list[float] = []
        sources: Counter[str] = Counter()
        errors = 0
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            path = f"/objects/{BUCKET}/{quote(chooser.choice(keys))}"
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                errors += 1
            sources[response.getheader("X-S3meta-Source") or "-"] += 1
        connection.close()
        with lock:
            run.latencies.extend(mine)
            run.sources.update(sources)
            run.errors += errors

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run


def fill(port: int, keys: Sequence[str]) -> None:
    """One lookup of every key: each misses the cache and puts its row there."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for key in keys:
        connection.request(
            "GET", f"/objects/{BUCKET}/{quote(key)}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        connection.getresponse().read()
    connection.close()


def summary(name: str, runs: Sequence[Run]) -> list[str]:
    """One table row: lookups/s, p50 and p99 (ms), as median [min..max] of the runs."""
    return [
        name,
        spread([run.per_second for run in runs], 0),
        spread([run.milliseconds(50) for run in runs]),
        spread([run.milliseconds(99) for run in runs]),
        ", ".join(
            f"{source} {count}"
            for source, count in sum((r.sources for r in runs), Counter()).most_common()
        ),
    ]


@click.command()
@click.option("--mysql", default="mysql+pymysql://root@127.0.0.1:3306", show_default=True)
@click.option("--redis", "redis_url", default="redis://127.0.0.1:6379/0", show_default=True)
@click.option("--objects", type=click.IntRange(1, 300), default=300, show_default=True)
@click.option("--requests", type=click.IntRange(1), default=3000, show_default=True)
@click.option("--clients", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--runs", type=click.IntRange(1, 10), default=3, show_default=True)
def main(mysql: str, redis_url: str, objects: int, requests: int, clients: int, runs: int) -> None:
    """Measure key lookups/s, p50 and p99 through the API, without and with the cache."""
    with tempfile.TemporaryDirectory() as scratch, scratch_database(mysql) as database_url:
        keys = seed_rows(database_url, objects)
        results: dict[str, list[Run]] = {}
        with serving(database_url, Path(scratch) / "plain.log") as port:
            lookups(port, keys, min(requests, 200), clients, seed=0)  # warm connections
            results["MySQL only"] = [lookups(port, keys, requests, clients, n) for n in range(runs)]
        with (
            scratch_prefix(redis_url, "bench") as prefix,
            serving(
                database_url,
                Path(scratch) / "cached.log",
                S3META_CACHE_URL=redis_url,
                S3META_CACHE_PREFIX=prefix,
                S3META_CACHE_TTL_SECONDS="3600",
            ) as port,
        ):
            fill(port, keys)
            results["Redis cache"] = [
                lookups(port, keys, requests, clients, n) for n in range(runs)
            ]
    errors = sum(run.errors for found in results.values() for run in found)
    click.echo(
        f"{requests} lookups x {runs} runs, {clients} clients, {objects} objects "
        f"(median [min..max] of the runs)"
    )
    rows = [["", "lookups/s", "p50 ms", "p99 ms", "answered from"]]
    rows += [summary(name, found) for name, found in results.items()]
    click.echo(table(rows, "lrrrl"))
    if errors:
        raise click.ClickException(f"{errors} lookups did not answer 200")


if __name__ == "__main__":
    main()
