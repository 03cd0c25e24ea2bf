"""Celery's result tables and its rule for storing a result row, without importing Celery.

The tables are owned by s3meta's migrations (``alembic/env.py`` imports this module to
declare them on ``db.models.Base``), so that MySQL gets room for real results and
tracebacks (Celery's own models give 64 KB BLOB/TEXT); a deployment without Celery (the
Lambda package) migrates the same schema. Celery reads and writes them through its own
models: ``tests/unit/test_models.py`` keeps these columns in step with Celery's, and
``tests/integration/test_results.py`` reads what ``ResultRows`` writes with Celery's backend.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from db.models import Base, LongBlob, LongText
from db.together import Statement, Write, binds, placeholder
from s3meta.domain.records import TaskResultRecord

RESULT_TABLE = "celery_taskmeta"
SUCCESS = "SUCCESS"  # celery.states.SUCCESS

celery_taskmeta = sa.Table(
    "celery_taskmeta",
    Base.metadata,
    sa.Column("id", sa.Integer, sa.Sequence("task_id_sequence"), primary_key=True),
    sa.Column("task_id", sa.String(155), unique=True),
    sa.Column("status", sa.String(50)),
    sa.Column("result", LongBlob),
    sa.Column("date_done", sa.DateTime, index=True),
    sa.Column("traceback", LongText),
    sa.Column("children", LongBlob),
    sa.Column("name", sa.String(155)),
    sa.Column("args", LongBlob),
    sa.Column("kwargs", LongBlob),
    sa.Column("worker", sa.String(155)),
    sa.Column("retries", sa.Integer),
    sa.Column("queue", sa.String(155)),
    sa.Column("stamps", LongBlob),
    sqlite_autoincrement=True,
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)

celery_tasksetmeta = sa.Table(
    "celery_tasksetmeta",
    Base.metadata,
    sa.Column("id", sa.Integer, sa.Sequence("taskset_id_sequence"), primary_key=True),
    sa.Column("taskset_id", sa.String(155), unique=True),
    sa.Column("result", LongBlob),
    sa.Column("date_done", sa.DateTime, index=True),
    sqlite_autoincrement=True,
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
)


_COLUMNS = tuple(field.name for field in fields(TaskResultRecord))
_MYSQL = ("mysql", "mariadb")


class ResultRows:
    """Writes a task's result row in the task's own transaction, by the rules of Celery's
    database backend (``DatabaseBackend._store_result``): the id drawn from Celery's sequence
    where the database has sequences (``task_id_sequence``, MariaDB; else the column's
    auto-increment), a row already at SUCCESS left as it is (a repeated run does not replace
    its result), a row of an earlier attempt (RETRY) replaced. Celery's own writes take three
    or four round trips in transactions of their own."""

    def write(self, record: TaskResultRecord, dialect: Dialect) -> Write:
        """The write of ``record``'s row, unless the task's row is at SUCCESS already."""
        return Write(upsert(dialect), {name: getattr(record, name) for name in _COLUMNS})


@lru_cache(maxsize=8)
def upsert(dialect: Dialect) -> Statement:
    """The statement that stores a result row on ``dialect``, by Celery's rules."""
    quote = dialect.identifier_preparer.quote
    table = quote(celery_taskmeta.name)
    names = [quote(name) for name in _COLUMNS]
    values = [f":{placeholder(celery_taskmeta, name)}" for name in _COLUMNS]
    sequence = celery_taskmeta.c.id.default
    if dialect.supports_sequences and isinstance(sequence, sa.Sequence):
        names.insert(0, quote("id"))
        values.insert(0, f"NEXTVAL({quote(sequence.name)})")
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)})"  # noqa: S608
    if dialect.name in _MYSQL:
        sql = f"{insert} ON DUPLICATE KEY UPDATE {_mysql_assignments(dialect)}"
    else:
        sql = f"{insert} ON CONFLICT ({quote('task_id')}) DO UPDATE SET {_assignments(dialect)}"
    return Statement(sql, binds(celery_taskmeta, _COLUMNS))


def _mysql_assignments(dialect: Dialect) -> str:
    """Each column's new value unless the row is at SUCCESS; MySQL assigns left to right, so
    ``status`` comes last, after every condition on its old value."""
    quote = dialect.identifier_preparer.quote
    status = quote("status")
    kept = f"{status} = '{SUCCESS}'"
    assignments = []
    for name in _COLUMNS:
        if name in ("task_id", "status"):
            continue
        column = quote(name)
        # Celery keeps the stamps stored unless the run has stamps of its own.
        condition = f"{kept} OR VALUES({column}) IS NULL" if name == "stamps" else kept
        assignments.append(f"{column} = IF({condition}, {column}, VALUES({column}))")
    assignments.append(f"{status} = IF({kept}, {status}, VALUES({status}))")
    return ", ".join(assignments)


def _assignments(dialect: Dialect) -> str:
    """SQLite's (and PostgreSQL's) upsert: the new values unless the row is at SUCCESS."""
    quote = dialect.identifier_preparer.quote
    table = quote(celery_taskmeta.name)
    assignments = []
    for name in _COLUMNS:
        if name == "task_id":
            continue
        column = quote(name)
        if name == "stamps":
            assignments.append(f"{column} = COALESCE(excluded.{column}, {table}.{column})")
        else:
            assignments.append(f"{column} = excluded.{column}")
    status = quote("status")
    where = f"{table}.{status} IS NULL OR {table}.{status} <> '{SUCCESS}'"
    return f"{', '.join(assignments)} WHERE {where}"
