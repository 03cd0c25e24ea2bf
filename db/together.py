"""Several writes in one round trip: on MySQL, one query of many statements.

A writer builds its statements here (``insert``, ``update``, or its own ``Statement``) and
runs a transaction's writes with ``execute``. On an engine that allows it
(``allow_statements_together``: PyMySQL's ``CLIENT_MULTI_STATEMENTS``) they travel as one
query, and an error of any of them comes out of ``execute`` as a statement's error would;
MySQL runs none after a failed one. Elsewhere (SQLite, another driver) they run one by one,
in the same transaction: the same writes, a round trip each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from pymysql.constants import CLIENT  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine

# The execution option that marks a query of several statements.
_TOGETHER = "s3meta_statements_together"


@dataclass(frozen=True)
class Statement:
    """One statement, its ``:name`` placeholders unique to it, and their types (the columns').

    ``values`` maps what a write gives by column to the statement's placeholders.
    """

    sql: str
    binds: tuple[tuple[str, str, sa.types.TypeEngine[Any]], ...]  # (column, placeholder, type)

    def values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {placeholder: row[column] for column, placeholder, _ in self.binds}


@dataclass(frozen=True)
class Write:
    """A statement and its values, by column."""

    statement: Statement
    row: Mapping[str, Any]


def placeholder(table: sa.Table, column: str) -> str:
    """The placeholder of ``table``'s ``column``: unique among the tables of one query."""
    return f"{table.name}__{column}"


def binds(table: sa.Table, columns: Iterable[str]) -> tuple[tuple[str, str, Any], ...]:
    """``Statement.binds`` for ``columns`` of ``table``, typed as the columns are."""
    return tuple((name, placeholder(table, name), table.c[name].type) for name in columns)


def insert(table: sa.Table, columns: Sequence[str], dialect: Dialect) -> Statement:
    """``INSERT INTO table (columns) VALUES (...)``."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    values = ", ".join(f":{placeholder(table, name)}" for name in columns)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({values})"  # noqa: S608 - our names
    return Statement(sql, binds(table, columns))


def update(table: sa.Table, columns: Sequence[str], key: str, dialect: Dialect) -> Statement:
    """``UPDATE table SET columns = ... WHERE key = ...``."""
    quote = dialect.identifier_preparer.quote
    assignments = ", ".join(f"{quote(name)} = :{placeholder(table, name)}" for name in columns)
    where = f"{quote(key)} = :{placeholder(table, key)}"
    sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {where}"  # noqa: S608 - our names
    return Statement(sql, binds(table, [*columns, key]))


def execute(connection: sa.Connection, writes: Sequence[Write]) -> None:
    """Run ``writes`` in order, in ``connection``'s transaction: one query if it can take them."""
    if len(writes) > 1 and _takes_statements_together(connection):
        statements = tuple(write.statement for write in writes)
        values: dict[str, Any] = {}
        for write in writes:
            values.update(write.statement.values(write.row))
        connection.execute(_together(statements), values)
        return
    for write in writes:
        connection.execute(_alone(write.statement), write.statement.values(write.row))


def allow_statements_together(engine: Engine) -> None:
    """Let ``engine``'s connections take several statements per query (PyMySQL only).

    Set before the engine connects; its connections must not take SQL built from input.
    """
    if engine.dialect.driver != "pymysql":
        return
    event.listen(engine, "do_connect", _multi_statements_flag)
    event.listen(engine, "do_execute", _execute_every_statement)


def _takes_statements_together(connection: sa.Connection) -> bool:
    if not event.contains(connection.engine, "do_execute", _execute_every_statement):
        return False
    flags = getattr(connection.connection.dbapi_connection, "client_flag", 0)
    return bool(flags & CLIENT.MULTI_STATEMENTS)


def _multi_statements_flag(
    _dialect: Dialect, _record: Any, _args: list[Any], params: dict[str, Any]
) -> None:
    # Added to the dialect's own flags (FOUND_ROWS): a client_flag in connect_args would
    # replace them.
    params["client_flag"] = params.get("client_flag", 0) | CLIENT.MULTI_STATEMENTS


def _execute_every_statement(
    cursor: Any, statement: str, parameters: Any, context: Any
) -> bool | None:
    """Execute a query of several statements and read every statement's answer.

    PyMySQL reads the first answer only; the others would be read (and their errors raised)
    at the connection's next command, or lost when the cursor is closed. Reading them here,
    inside SQLAlchemy's execution, makes an error any statement's error, translated as usual.
    """
    if not context.execution_options.get(_TOGETHER):
        return None
    cursor.execute(statement, parameters)
    while cursor.nextset():
        pass
    return True


@lru_cache(maxsize=64)
def _together(statements: tuple[Statement, ...]) -> sa.TextClause:
    """One query of ``statements`` in order; the compiled form is cached per shape."""
    typed = [
        sa.bindparam(name, type_=kind)
        for statement in statements
        for _, name, kind in statement.binds
    ]
    sql = ";\n".join(statement.sql for statement in statements)
    return sa.text(sql).bindparams(*typed).execution_options(**{_TOGETHER: True})


@lru_cache(maxsize=64)
def _alone(statement: Statement) -> sa.TextClause:
    typed = [sa.bindparam(name, type_=kind) for _, name, kind in statement.binds]
    return sa.text(statement.sql).bindparams(*typed)
