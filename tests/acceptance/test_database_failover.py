"""A Multi-AZ failover under load: the primary is killed with SIGKILL, the semi-synchronous
standby promoted, the endpoint moved; workers, the bridge and the API carry on by themselves.

The endpoint is a TCP relay the test controls, standing in for RDS's DNS flip. A real bridge
feeds a real ``celery -A tasks worker`` (threads, 8, as deployed) and ``s3meta serve`` reads
through the same endpoint.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from s3meta.processes import BridgeProcess, WorkerProcess, wait_for
from tests.support.database import ROOT
from tests.support.faults import TcpProxy
from tests.support.load import live_rows, new_load, outcomes
from tests.support.mariadb import replicated_mariadb
from tests.support.serve import Served, serving
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

OBJECTS = 240
RATE = 20.0  # notifications a second: the feed lasts 12 s
KILL_AFTER_ROWS = 80
# Short, so that a task lost with a connection comes back within the test; the number of
# retries is the default's, on a shorter backoff.
TIMING = {
    "S3META_VISIBILITY_TIMEOUT": "30",
    "S3META_TASK_TIME_LIMIT": "15",
    "S3META_RETRY_BACKOFF": "1",
    "S3META_RETRY_BACKOFF_MAX": "8",
}


class Readiness(threading.Thread):
    """Polls ``/readyz`` until stopped; the statuses seen, in order, without repeats."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self._served = served
        self.seen: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.2):
            try:
                status = self._served.get("/readyz", timeout=5).status
            except OSError:
                status = 0
            if not self.seen or self.seen[-1] != status:
                self.seen.append(status)


# How the old primary goes: its connections reset (the server died, its host answers), or
# its host vanishes and nothing answers (the RDS writer's DNS name still points to it): then
# only the clients' read timeouts end them, short here through the URL's own.
ENDINGS = {"reset": {}, "vanished": {"connect_timeout": "2", "read_timeout": "4"}}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_primary_killed_mid_load_fails_over_to_its_standby_and_no_acknowledged_row_is_lost(
    stack: Stack, tmp_path: Path, ending: str
) -> None:
    load = new_load(stack, OBJECTS)
    with replicated_mariadb(tmp_path / "db", semi_sync=True) as pair:
        direct = make_url(pair.primary.new_database())
        endpoint = TcpProxy("127.0.0.1", pair.primary.port)
        url = (
            direct.set(port=endpoint.port)
            .update_query_dict(ENDINGS[ending])
            .render_as_string(hide_password=False)
        )
        env = {**stack.env, **load.queues, **TIMING, "S3META_DATABASE_URL": url}
        env.pop("S3META_RESULT_BACKEND", None)  # results too go through the endpoint
        env.pop("S3META_MAX_RETRIES", None)
        primary = sa.create_engine(direct.render_as_string(hide_password=False))
        standby = sa.create_engine(
            direct.set(port=pair.replica.port).render_as_string(hide_password=False)
        )
        worker = WorkerProcess(
            env, tmp_path / "worker.log", pool="threads", concurrency=8, name="failover", cwd=ROOT
        )
        bridge = BridgeProcess(env, tmp_path / "bridge.log", cwd=ROOT)
        try:
            with serving(env, tmp_path / "serve.log") as served:
                readiness = Readiness(served)
                readiness.start()
                started = time.monotonic()
                feeder = load.feed(RATE)
                wait_for(
                    lambda: len(live_rows(primary, load.bucket)) >= KILL_AFTER_ROWS,
                    60,
                    f"{KILL_AFTER_ROWS} rows on the primary",
                )
                # Every row the primary shows was committed, so the standby has it (semi-sync,
                # AFTER_SYNC): these must all survive.
                acknowledged = live_rows(primary, load.bucket)
                primary.dispose()
                killed_at = time.monotonic()
                if ending == "vanished":
                    endpoint.go_silent()
                pair.primary.kill()
                tries = endpoint.accepted
                # The outage lasts until the workers have found the database gone.
                wait_for(
                    lambda: endpoint.accepted >= tries + 4, 30, "the workers to try to reconnect"
                )
                pair.promote()
                cut = endpoint.repoint("127.0.0.1", pair.replica.port)
                promoted = time.monotonic() - killed_at
                reconnects_from = endpoint.accepted

                wait_for(
                    lambda: len(live_rows(standby, load.bucket)) == OBJECTS,
                    90,
                    f"all {OBJECTS} rows on the promoted standby",
                )
                recovered = time.monotonic() - killed_at
                wait_for(load.drained, 30, "the events and task queues to empty")
                drained_at = time.monotonic() - started
                wait_for(lambda: readiness.seen[-1:] == [200], 30, "the API to be ready again")
                readiness.stopping.set()
                listed = served.get(f"/objects?bucket={load.bucket}&limit=5")
            dead_letters = load.messages("S3META_DEAD_LETTER_QUEUE")
            assert feeder.error is None
            assert bridge.running(), bridge.log()
            assert worker.describe().endswith(": running"), worker.log()
        finally:
            bridge.stop()
            worker.stop()
            endpoint.stop()

        retries = worker.log().count(" retry: Retry in ")
        table = live_rows(standby, load.bucket)
        counted = outcomes(standby)
        standby.dispose()

    lost = {key: etag for key, etag in acknowledged.items() if table.get(key) != etag}
    print(
        f"\nfailover ({ending}): {OBJECTS} objects at {RATE:.0f}/s, primary SIGKILLed after "
        f"{len(acknowledged)} rows; endpoint moved to the promoted standby after {promoted:.2f} s "
        f"({cut} connections cut, {endpoint.accepted - reconnects_from} new ones); all rows "
        f"{recovered:.1f} s after the kill; queues drained {drained_at:.1f} s after the feed "
        f"began; {retries} task retries; attempts recorded {counted}; /readyz went {readiness.seen}"
    )
    assert lost == {}, f"acknowledged rows lost in the failover: {sorted(lost)[:5]}"
    assert table == load.s3_etags()
    assert retries >= 1, "no task was caught by the failover"
    assert counted.get("failed", 0) == 0
    assert counted.get("result FAILURE", 0) == 0
    assert dead_letters == (0, 0)
    assert listed.status == 200
    assert len(listed.json()["objects"]) == 5
    assert endpoint.accepted > reconnects_from, "no connection was made to the new primary"
