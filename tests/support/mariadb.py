"""MariaDB servers of a test's own (own datadir, port and socket): a server the test may stop
and start again, and a primary with a binlog replica.

``mariadb-install-db --no-defaults`` makes the datadir (without ``--no-defaults`` the system
my.cnf's user gets in the way), ``/usr/sbin/mariadbd --no-defaults`` runs it as root on
127.0.0.1. Skipped loudly where MariaDB is not installed; failing in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from s3meta.processes import free_port, stop_process, wait_for
from tests.support.database import IN_CI, migrate

MARIADBD = Path("/usr/sbin/mariadbd")
INSTALL_DB = shutil.which("mariadb-install-db") or "mariadb-install-db"
REPLICATION_USER = "repl"
REPLICATION_PASSWORD = "repl-password"


def require_mariadbd() -> None:
    if MARIADBD.exists() and shutil.which(INSTALL_DB):
        return
    message = f"no {MARIADBD} and mariadb-install-db to start a private server"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(f"!!! SKIPPING: {message}")


@dataclass
class MariaDB:
    """One private ``mariadbd``: start, stop, start again on the same port and data."""

    directory: Path
    server_id: int
    binlog: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}"

    def install(self) -> None:
        (self.directory / "data").mkdir(parents=True)
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={self.directory / 'data'}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        command = [
            str(MARIADBD),
            "--no-defaults",
            f"--datadir={self.directory / 'data'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--socket={self.directory / 'sock'}",
            "--user=root",
            f"--server-id={self.server_id}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=16M",
            "--performance-schema=OFF",
        ]
        if self.binlog:
            command += [f"--log-bin={self.directory / 'binlog'}", "--binlog-format=ROW"]
        with (self.directory / "mariadbd.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.answers() or self._exited(), 60, f"mariadbd on port {self.port}")
        if self._exited():
            raise RuntimeError(f"mariadbd exited: {(self.directory / 'mariadbd.log').read_text()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 60)
            self.process = None

    def kill(self) -> None:
        """SIGKILL, as a host that fails does: nothing flushed, no goodbye to clients."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def answers(self) -> bool:
        engine = sa.create_engine(self.url, connect_args={"connect_timeout": 1})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError:
            return False
        finally:
            engine.dispose()
        return True

    def execute(self, *statements: str) -> list[dict[str, object]]:
        """Run ``statements``; the rows of the last one."""
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as connection:
                rows: list[dict[str, object]] = []
                for statement in statements:
                    result = connection.exec_driver_sql(statement)
                    rows = [dict(row) for row in result.mappings()] if result.returns_rows else []
                return rows
        finally:
            engine.dispose()

    def new_database(self) -> str:
        """A new database (URL), migrated to head."""
        name = f"s3meta_test_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        url = f"{self.url}/{name}?charset=utf8mb4"
        migrate(url)
        return url

    def _exited(self) -> bool:
        return self.process is None or self.process.poll() is not None


@contextmanager
def private_mariadb(
    directory: Path, *, server_id: int = 1, binlog: bool = False
) -> Iterator[MariaDB]:
    """A private server, installed and started; stopped afterwards."""
    require_mariadbd()
    server = MariaDB(directory, server_id, binlog)
    server.install()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class Replicated:
    primary: MariaDB
    replica: MariaDB

    def replica_url(self, primary_url: str) -> str:
        """The replica's URL of the database ``primary_url`` names."""
        return primary_url.replace(self.primary.url, self.replica.url, 1)

    def promote(self, timeout: float = 30) -> None:
        """Make the replica a primary, as a failover does: apply every event it received
        from the (dead) primary, forget it, accept writes."""
        self.replica.execute("STOP SLAVE IO_THREAD")

        def applied_all() -> bool:
            status = self.replica.execute("SHOW SLAVE STATUS")[0]
            return bool(
                status["Relay_Master_Log_File"] == status["Master_Log_File"]
                and status["Exec_Master_Log_Pos"] == status["Read_Master_Log_Pos"]
            )

        wait_for(applied_all, timeout, "the standby to apply its relay log")
        self.replica.execute("STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0")

    def wait_caught_up(self, timeout: float = 30) -> None:
        """Until the replica has applied everything the primary logged."""
        position = self.primary.execute("SELECT @@gtid_binlog_pos AS p")[0]["p"]
        rows = self.replica.execute(f"SELECT MASTER_GTID_WAIT('{position}', {timeout}) AS w")
        assert rows[0]["w"] == 0, f"replica did not reach {position} in {timeout} s"


# Semi-synchronous, lossless: a COMMIT returns only once the standby has the transaction in
# its relay log (AFTER_SYNC: before the primary's own clients can see it), as on a Multi-AZ
# cluster; never falling back to asynchronous within a test's time.
SEMI_SYNC_PRIMARY = (
    "SET GLOBAL rpl_semi_sync_master_enabled = ON",
    "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
    "SET GLOBAL rpl_semi_sync_master_timeout = 600000",
)
SEMI_SYNC_STANDBY = ("SET GLOBAL rpl_semi_sync_slave_enabled = ON", "SET GLOBAL read_only = 1")


@contextmanager
def replicated_mariadb(directory: Path, *, semi_sync: bool = False) -> Iterator[Replicated]:
    """A primary with a binlog and a replica of it, replicating by GTID from the start;
    with ``semi_sync``, a read-only standby that has every committed transaction."""
    with (
        private_mariadb(directory / "primary", server_id=1, binlog=True) as primary,
        private_mariadb(directory / "replica", server_id=2) as replica,
    ):
        primary.execute(
            f"CREATE USER '{REPLICATION_USER}'@'127.0.0.1' IDENTIFIED BY '{REPLICATION_PASSWORD}'",
            f"GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'127.0.0.1'",
        )
        if semi_sync:
            primary.execute(*SEMI_SYNC_PRIMARY)
            replica.execute(*SEMI_SYNC_STANDBY)
        replica.execute(
            f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, "
            f"MASTER_USER='{REPLICATION_USER}', MASTER_PASSWORD='{REPLICATION_PASSWORD}', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1",
            "START SLAVE",
        )
        replicated = Replicated(primary, replica)
        wait_for(
            lambda: replica.execute("SHOW SLAVE STATUS")[0]["Slave_IO_Running"] == "Yes",
            30,
            "the replica to connect to its primary",
        )
        if semi_sync:
            wait_for(
                lambda: semi_sync_clients(primary) == 1, 30, "the standby to acknowledge commits"
            )
        yield replicated


def semi_sync_clients(primary: MariaDB) -> int:
    """How many semi-synchronous replicas ``primary`` waits for."""
    rows = primary.execute("SHOW STATUS LIKE 'Rpl_semi_sync_master_clients'")
    return int(str(rows[0]["Value"]))
