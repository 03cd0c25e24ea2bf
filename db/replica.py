"""How far a read replica is behind its primary: ``SHOW REPLICA STATUS`` (MariaDB 10.5+,
MySQL 8.0.22+), else ``SHOW SLAVE STATUS``."""

from __future__ import annotations

import sqlalchemy as sa

from db.errors import translated_errors
from s3meta.errors import DatabaseError

_STATEMENTS = ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS")
_LAG_COLUMNS = ("Seconds_Behind_Master", "Seconds_Behind_Source")


class NotReplicating(DatabaseError):
    """The server is no replica, or its replication is stopped or broken."""


def replica_lag(engine: sa.Engine) -> float:
    """Seconds the replica at ``engine`` is behind; ``NotReplicating`` if it is not
    replicating (no replica, threads stopped), ``DatabaseUnavailable`` if unreachable."""
    if engine.dialect.name not in {"mysql", "mariadb"}:
        raise NotReplicating(f"{engine.dialect.name} has no replicas")
    row = None
    with translated_errors(), engine.connect() as connection:
        for index, statement in enumerate(_STATEMENTS):
            try:
                row = connection.exec_driver_sql(statement).mappings().first()
                break
            except sa.exc.ProgrammingError:
                # An older server knows only the second spelling.
                if index == len(_STATEMENTS) - 1:
                    raise
                connection.rollback()
    if row is None:
        raise NotReplicating("the read database is not a replica (SHOW REPLICA STATUS is empty)")
    for column in _LAG_COLUMNS:
        if column in row:
            lag = row[column]
            if lag is None:
                io = row.get("Slave_IO_Running", row.get("Replica_IO_Running"))
                sql = row.get("Slave_SQL_Running", row.get("Replica_SQL_Running"))
                error = row.get("Last_IO_Error") or row.get("Last_SQL_Error") or ""
                detail = f": {error}" if error else ""
                raise NotReplicating(f"replication is not running (IO {io}, SQL {sql}){detail}")
            return float(lag)
    raise NotReplicating("SHOW REPLICA STATUS has no Seconds_Behind_Master column")
