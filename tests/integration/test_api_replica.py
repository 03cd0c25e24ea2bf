"""The API and the read commands on a real binlog replica: a primary and a replica
``mariadbd`` of the test's own, a real worker writing to the primary."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from db.engine import writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.cli.query import list_objects
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectFilter
from s3meta.operations.serving import LAG_EVERY_SECONDS
from s3meta.processes import wait_for
from tests.support.api import api_client
from tests.support.cli import invoke
from tests.support.mariadb import Replicated, replicated_mariadb
from tests.support.records import T0
from tests.support.stack import Stack
from tests.support.workers import send, worker_on
from tests.support.writes import save_state

pytestmark = pytest.mark.mysql


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicated]:
    with replicated_mariadb(tmp_path_factory.mktemp("replication")) as replicated:
        yield replicated


@pytest.fixture
def primary_url(servers: Replicated) -> str:
    url = servers.primary.new_database()
    servers.wait_caught_up()
    return url


@pytest.fixture
def api(servers: Replicated, primary_url: str) -> Iterator[TestClient]:
    with api_client(primary_url, read_url=servers.replica_url(primary_url)) as (client, _):
        yield client


def listed(client: TestClient, bucket: str) -> list[str]:
    response = client.get("/objects", params={"bucket": bucket})
    assert response.status_code == 200, response.text
    return [row["key"] for row in response.json()["objects"]]


def test_rows_a_real_worker_writes_on_the_primary_are_served_from_the_replica_with_its_lag(
    stack: Stack, servers: Replicated, primary_url: str, api: TestClient, tmp_path: Path
) -> None:
    bucket = stack.new_bucket()
    keys = [f"replicated/{index}.txt" for index in range(5)]
    for key in keys:
        stack.s3().put_object(Bucket=bucket, Key=key, Body=key.encode())
    primary = ObjectReader(writer_engine(primary_url))

    with worker_on(stack, primary_url, tmp_path / "worker.log") as (_, queue):
        for key in keys:
            send(queue, bucket, key)
        wait_for(
            lambda: len(list(primary.iter_objects(ObjectFilter(bucket)))) == len(keys),
            60,
            "the worker's rows on the primary",
        )
    servers.wait_caught_up()

    shown = api.get(f"/objects/{bucket}/{keys[0]}")
    ready = api.get("/readyz").json()

    assert listed(api, bucket) == keys
    assert shown.status_code == 200
    assert shown.headers["X-S3meta-Source"] == "replica"
    assert shown.headers["X-S3meta-Replica-Lag"] == "0"
    assert ready["replica"] == {"ok": True, "lag_seconds": 0.0, "error": None}


def test_a_stopped_replica_sends_key_reads_to_the_primary_and_readyz_says_why(
    servers: Replicated, primary_url: str, api: TestClient
) -> None:
    servers.replica.execute("STOP SLAVE SQL_THREAD")
    try:
        save_state(
            MetadataStore(writer_engine(primary_url)),
            ObjectState("late-bucket", "late", size=1, etag="e", last_modified=T0),
            EventInfo(),
        )
        wait_for(
            lambda: api.get("/healthz").headers["X-S3meta-Replica-Lag"] == "unknown",
            5 + LAG_EVERY_SECONDS,
            "the API to see the replica stopped",
        )
        shown = api.get("/objects/late-bucket/late")
        ready = api.get("/readyz").json()
        missing_on_replica = listed(api, "late-bucket")
        from_cli = invoke(
            list_objects,
            "--bucket",
            "late-bucket",
            "--json",
            S3META_DATABASE_URL=primary_url,
            S3META_DATABASE_READ_URL=servers.replica_url(primary_url),
        )
    finally:
        servers.replica.execute("START SLAVE SQL_THREAD")

    assert (shown.status_code, shown.headers["X-S3meta-Source"]) == (200, "primary")
    assert ready["replica"]["ok"] is False
    assert "replication is not running (IO Yes, SQL No)" in ready["replica"]["error"]
    assert missing_on_replica == []
    assert (from_cli.exit_code, from_cli.stdout) == (0, "")  # `s3meta list` read the replica
    servers.wait_caught_up()
    assert listed(api, "late-bucket") == ["late"]


def test_a_replica_lagging_past_the_setting_sends_key_reads_to_the_primary_until_it_catches_up(
    servers: Replicated, primary_url: str
) -> None:
    replica_url = servers.replica_url(primary_url)
    servers.replica.execute("STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=4", "START SLAVE")
    try:
        with api_client(primary_url, read_url=replica_url, max_lag_seconds=1) as (client, _):
            save_state(
                MetadataStore(writer_engine(primary_url)),
                ObjectState("delayed-bucket", "fresh", size=1, etag="e", last_modified=T0),
                EventInfo(),
            )
            lags: list[str] = []

            def lagging() -> bool:
                lags.append(client.get("/healthz").headers["X-S3meta-Replica-Lag"])
                return lags[-1] not in {"0", "unknown"} and float(lags[-1]) > 1

            wait_for(lagging, 10, "the replica to lag")
            behind = client.get("/objects/delayed-bucket/fresh")
            servers.wait_caught_up()
            wait_for(
                lambda: client.get("/healthz").headers["X-S3meta-Replica-Lag"] == "0",
                5,
                "the replica to catch up",
            )
            caught_up = client.get("/objects/delayed-bucket/fresh")
    finally:
        servers.replica.execute("STOP SLAVE", "CHANGE MASTER TO MASTER_DELAY=0", "START SLAVE")

    assert (behind.status_code, behind.headers["X-S3meta-Source"]) == (200, "primary")
    assert float(behind.headers["X-S3meta-Replica-Lag"]) > 1
    assert (caught_up.status_code, caught_up.headers["X-S3meta-Source"]) == (200, "replica")
