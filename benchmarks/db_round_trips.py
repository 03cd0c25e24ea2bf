"""MySQL round trips per task: ``extract_metadata``'s write path against the seed's INSERT.

Runs ``--tasks`` successful ``extract_metadata`` tasks through Celery's own tracer, as a
worker's pool child runs them (the task, the indexer, the store, and the result write of
Celery's result backend, with the result backend's engine kept as a pool child keeps it),
against a scratch database on ``--mysql``, with S3 answered in process by moto. Then as
many of the seed's writes (INSERT, COMMIT on one connection). Every MySQL command is
counted at the MySQL-protocol relay of ``benchmarks.relays``, after ``--warmup`` tasks that
open the connections; the figures are commands per task by statement, and round trips
(the commands the server answers).

A query that carries several statements is one command (one round trip), named by its first
statement and how many more it carries. With ``--change-feed`` the tasks run with
``S3META_CHANGE_TOPIC`` set, so that each journal entry's outbox row is written too.

    .venv/bin/python -m benchmarks.db_round_trips --tasks 200 [--change-feed]
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks import seed
from benchmarks.figures import table
from benchmarks.harness import AWS, mysql_option, scratch_database, upload
from benchmarks.relays import NO_REPLY, ListenerSpec, RelayProcess, Tally

BUCKET = "round-trips"
QUEUE = "s3meta-tasks"
Run = Callable[[int], None]  # runs task number n


def count_per_task(relay: RelayProcess, listener: str, run: Run, tasks: int, warmup: int) -> Tally:
    """What ``listener`` saw while ``run`` ran tasks ``warmup``..``warmup + tasks - 1``."""
    for n in range(warmup):
        run(n)
    before = relay.counts()[listener]
    for n in range(warmup, warmup + tasks):
        run(n)
    return relay.counts()[listener] - before


# Only parsed by the tasks: nothing is published while they run.
CHANGE_TOPIC = "s3meta-bench-changes"


def s3meta_tasks(database_url: str, total: int, *, versioned: bool = False) -> Run:
    """A runner of successful ``extract_metadata`` tasks, one per uploaded object (in a
    versioned bucket, if asked: each task then also records the object's version).

    The environment names the database; S3 is moto's, in process (``mock_aws`` must be on).
    """
    import boto3

    os.environ.update(AWS, S3META_DATABASE_URL=database_url, S3META_TASK_QUEUE=QUEUE)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    client = boto3.client("s3", region_name=AWS["AWS_REGION"])
    keys = upload(client, BUCKET, total, versioned=versioned)

    from celery.app.trace import build_tracer

    from tasks.app import app
    from tasks.extract import extract_metadata

    # A pool child keeps the result backend's engine (Celery marks a child on fork; the
    # worker marks the backend of a pool that never forks: see tasks.app).
    app.backend.session_manager.forked = True
    hostname = "bench@round-trips"
    tracer = build_tracer(extract_metadata.name, extract_metadata, app=app, hostname=hostname)
    event = {"event_name": "ObjectCreated:Put", "event_time": "2026-11-26T12:00:00.000Z"}

    def run(n: int) -> None:
        task_id = str(uuid.uuid4())
        args = (BUCKET, keys[n])
        request = {
            "id": task_id,
            "task": extract_metadata.name,
            "root_id": task_id,
            "retries": 0,
            "hostname": hostname,
            "delivery_info": {"exchange": "", "routing_key": QUEUE, "redelivered": False},
            "args": args,
            "kwargs": event,
        }
        traced = tracer(task_id, args, event, request)
        if traced[1] is not None:  # the task's ExceptionInfo
            raise RuntimeError(f"task {n} failed: {traced[1].exception!r}")

    return run


def check_rows(database_url: str, tasks: int, change_feed: bool = False) -> None:
    """RuntimeError unless every task left its row, journal entry, attempt and result (and
    with ``change_feed``, its outbox row; without, none)."""
    queries = {
        "change_outbox": "SELECT COUNT(*) FROM change_outbox",
        "object_metadata": "SELECT COUNT(*) FROM object_metadata",
        "object_journal": "SELECT COUNT(*) FROM object_journal",
        "task_attempts": "SELECT COUNT(*) FROM task_attempts WHERE outcome = 'succeeded'",
        "celery_taskmeta": "SELECT COUNT(*) FROM celery_taskmeta WHERE status = 'SUCCESS'",
    }
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            found = {
                name: connection.execute(sa.text(q)).scalar_one() for name, q in queries.items()
            }
    finally:
        engine.dispose()
    wanted = dict.fromkeys(queries, tasks) | {"change_outbox": tasks if change_feed else 0}
    short = {name: count for name, count in found.items() if count != wanted[name]}
    if short:
        raise RuntimeError(f"{tasks} tasks ran, but the tables hold {short}")


@contextmanager
def seed_writes(database_url: str) -> Iterator[Run]:
    """A runner of the seed's write (INSERT, COMMIT), on one connection, as the seed's loop."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        connection.execute(seed.SEED_TABLE)
        connection.commit()

        def run(n: int) -> None:
            values = {
                "bucket": BUCKET,
                "key": f"objects/{n:05d}.bin".encode(),
                "size": 64,
                "etag": "0" * 32,
                "type": "binary/octet-stream",
                "modified": None,
                "metadata": "{}",
            }
            connection.execute(seed.INSERT, values)
            connection.commit()

        yield run
    engine.dispose()


def report(tallies: dict[str, Tally], tasks: int) -> str:
    """Commands per task by statement, for each design, and the round trips among them."""
    names = list(tallies)
    kinds = sorted({kind for tally in tallies.values() for kind in tally.calls})
    rows: list[list[str]] = [[f"MySQL commands per task ({tasks} tasks)", *names]]
    rows += [[kind, *(_per(tallies[name].calls[kind], tasks) for name in names)] for kind in kinds]
    trips = [
        sum(n for kind, n in tallies[name].calls.items() if kind not in NO_REPLY) for name in names
    ]
    rows.append(["round trips", *(_per(n, tasks) for n in trips)])
    rows.append(
        ["connections opened while counting", *(str(tallies[name].connections) for name in names)]
    )
    return table(rows)


def _per(count: int, tasks: int) -> str:
    return f"{count / tasks:.2f}" if count else "-"


def _through(url: str, port: int) -> str:
    """``url`` with its host and port those of the relay's listener."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@contextmanager
def _relay(server_url: str, names: list[str]) -> Iterator[RelayProcess]:
    server = make_url(server_url)
    upstream = (server.host or "127.0.0.1", server.port or 3306)
    specs = [ListenerSpec(name, "mysql", upstream) for name in names]
    with tempfile.TemporaryDirectory(prefix="s3meta-round-trips-") as folder:
        relay = RelayProcess(specs, Path(folder) / "relay.log")
        try:
            yield relay
        finally:
            relay.stop()


@click.command()
@click.option("--tasks", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--warmup",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="tasks run before counting, that open the connections",
)
@mysql_option()
@click.option(
    "--versioned",
    is_flag=True,
    help="upload into a versioned bucket: each task also reads and writes object_versions",
)
@click.option("--change-feed", is_flag=True, help="with S3META_CHANGE_TOPIC set")
def main(tasks: int, warmup: int, mysql: str, versioned: bool, change_feed: bool) -> None:
    from moto import mock_aws

    if change_feed:
        os.environ["S3META_CHANGE_TOPIC"] = CHANGE_TOPIC
    logging.basicConfig(level=logging.WARNING)
    tallies: dict[str, Tally] = {}
    name = (
        "s3meta" + (" versioned" if versioned else "") + (" + change feed" if change_feed else "")
    )
    with _relay(mysql, ["s3meta", "seed"]) as relay, scratch_database(mysql) as url:
        with mock_aws():
            run = s3meta_tasks(
                _through(url, relay.ports["s3meta"]), warmup + tasks, versioned=versioned
            )
            tallies[name] = count_per_task(relay, "s3meta", run, tasks, warmup)
        check_rows(url, warmup + tasks, change_feed)
        with seed_writes(_through(url, relay.ports["seed"])) as write:
            tallies["seed"] = count_per_task(relay, "seed", write, tasks, warmup)
    click.echo(report(tallies, tasks))


if __name__ == "__main__":
    main()
