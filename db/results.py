"""Celery's result rows (``celery_taskmeta``), written in a task's own transaction.

Celery's database result backend writes a result in transactions of its own, three or four
round trips each. A task whose result goes with its other rows writes the row here, with
the values Celery computes (``TaskResultRecord``) and Celery's rules: the id drawn from
Celery's sequence where the database has sequences (``task_id_sequence``, MariaDB; else the
column's auto-increment), and a row already at SUCCESS left as it is (a repeated run does
not replace its result). A row of an earlier attempt (RETRY) is replaced, as Celery does.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from db.models import celery_taskmeta
from db.together import Statement, Write, binds, placeholder
from s3meta.domain.records import TaskResultRecord

SUCCESS = "SUCCESS"  # celery.states.SUCCESS
COLUMNS = tuple(field.name for field in fields(TaskResultRecord))
_MYSQL = ("mysql", "mariadb")


def write(record: TaskResultRecord, dialect: Dialect) -> Write:
    """The write of ``record``'s row, unless the task's row is at SUCCESS already."""
    return Write(upsert(dialect), {name: getattr(record, name) for name in COLUMNS})


@lru_cache(maxsize=8)
def upsert(dialect: Dialect) -> Statement:
    """The statement that stores a result row on ``dialect``, by Celery's rules."""
    quote = dialect.identifier_preparer.quote
    table = quote(celery_taskmeta.name)
    names = [quote(name) for name in COLUMNS]
    values = [f":{placeholder(celery_taskmeta, name)}" for name in COLUMNS]
    sequence = celery_taskmeta.c.id.default
    if dialect.supports_sequences and isinstance(sequence, sa.Sequence):
        names.insert(0, quote("id"))
        values.insert(0, f"NEXTVAL({quote(sequence.name)})")
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(values)})"  # noqa: S608
    if dialect.name in _MYSQL:
        sql = f"{insert} ON DUPLICATE KEY UPDATE {_mysql_assignments(dialect)}"
    else:
        sql = f"{insert} ON CONFLICT ({quote('task_id')}) DO UPDATE SET {_assignments(dialect)}"
    return Statement(sql, binds(celery_taskmeta, COLUMNS))


def _mysql_assignments(dialect: Dialect) -> str:
    """Each column's new value unless the row is at SUCCESS; MySQL assigns left to right, so
    ``status`` comes last, after every condition on its old value."""
    quote = dialect.identifier_preparer.quote
    status = quote("status")
    kept = f"{status} = '{SUCCESS}'"
    assignments = []
    for name in COLUMNS:
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
    for name in COLUMNS:
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
