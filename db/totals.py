"""``prefix_totals`` in SQL: the writer's deltas, du's reads, and the recount that repairs.

The writer adds a transition's deltas (``s3meta.domain.totals.deltas``) with one upsert of
a row per delta, among the transaction's other writes (``db.together``): no round trip of
its own. Reads sum the shards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from db import together
from db.errors import translated_errors
from db.models import Base, ObjectMetadata, PrefixTotal
from db.together import Statement, Write, binds
from s3meta.domain.totals import Delta, Total, TotalKey, TotalsRule, corrections, recount

_TOTALS = Base.metadata.tables[PrefixTotal.__tablename__]
_COLUMNS = ("bucket", "prefix", "storage_class", "shard", "depth", "object_count", "byte_count")
_KEY = ("bucket", "depth", "prefix", "storage_class", "shard")
_MYSQL = ("mysql", "mariadb")
_REPAIR_BATCH = 500  # totals per upsert when repairing
_RECOUNT_BATCH = 10_000  # rows fetched at a time by the recount's cursor


@dataclass(frozen=True, slots=True)
class PrefixUsage:
    """What du shows for one prefix: its level and its totals by storage class."""

    prefix: str
    depth: int
    by_class: Mapping[str, Total]

    @property
    def total(self) -> Total:
        return sum(self.by_class.values(), Total())


@dataclass(frozen=True, slots=True)
class Repair:
    """What a recount found wrong with one total, and set right."""

    key: TotalKey
    found: Total
    expected: Total


def delta_write(deltas: Sequence[Delta], dialect: Dialect) -> Write | None:
    """The write that adds ``deltas``; None for none."""
    if not deltas:
        return None
    row: dict[str, Any] = {}
    for n, delta in enumerate(deltas):
        values = (
            delta.key.bucket,
            delta.key.prefix,
            delta.key.storage_class,
            delta.shard,
            delta.depth,
            delta.change.objects,
            delta.change.bytes,
        )
        row.update((f"{name}_{n}", value) for name, value in zip(_COLUMNS, values, strict=True))
    return Write(_upsert(len(deltas), dialect), row)


@lru_cache(maxsize=64)
def _upsert(rows: int, dialect: Dialect) -> Statement:
    """Add ``rows`` rows of deltas to their totals, creating those not there yet."""
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in _COLUMNS)
    placeholders = [[f"{_TOTALS.name}__{name}_{n}" for name in _COLUMNS] for n in range(rows)]
    values = ", ".join("(" + ", ".join(f":{p}" for p in row) + ")" for row in placeholders)
    counts = [quote("object_count"), quote("byte_count")]
    if dialect.name in _MYSQL:
        adds = ", ".join(f"{c} = {c} + VALUES({c})" for c in counts)
        tail = f"ON DUPLICATE KEY UPDATE {adds}"
    else:
        adds = ", ".join(f"{c} = {c} + excluded.{c}" for c in counts)
        tail = f"ON CONFLICT ({', '.join(quote(k) for k in _KEY)}) DO UPDATE SET {adds}"
    table = quote(_TOTALS.name)
    sql = f"INSERT INTO {table} ({names}) VALUES {values} {tail}"  # noqa: S608 - our names
    typed = tuple(
        (f"{name}_{n}", placeholder, _TOTALS.c[name].type)
        for n, row in enumerate(placeholders)
        for (name, _, _), placeholder in zip(binds(_TOTALS, _COLUMNS), row, strict=True)
    )
    return Statement(sql, typed)


class TotalsReader:
    """Reads ``prefix_totals`` through ``engine`` (a replica will do)."""

    def __init__(self, engine: sa.Engine, rule: TotalsRule) -> None:
        self._engine = engine
        self.rule = rule

    def usage(self, bucket: str, prefix: str, levels: int) -> list[PrefixUsage]:
        """``prefix`` and the prefixes up to ``levels`` below it (as far as totals are kept),
        in key order; ValueError for a prefix without totals. Totals of nothing are left out.
        """
        top = self.rule.depth_of(prefix)
        depths = list(range(top, min(top + levels, self.rule.depth) + 1))
        c = _TOTALS.c
        query = (
            sa.select(
                c.prefix,
                c.depth,
                c.storage_class,
                sa.func.sum(c.object_count),
                sa.func.sum(c.byte_count),
            )
            .where(c.bucket == bucket, c.depth.in_(depths))
            # In the table's key order: the server sums each total's shards as it reads them,
            # with no temporary table or sort.
            .group_by(c.depth, c.prefix, c.storage_class)
            .order_by(c.depth, c.prefix, c.storage_class)
        )
        if prefix:
            query = query.where(c.prefix.startswith(prefix, autoescape=True))
        found: dict[tuple[str, int], dict[str, Total]] = {}
        with translated_errors(), self._engine.connect() as connection:
            for name, depth, storage_class, objects, size in connection.execute(query):
                total = Total(int(objects), int(size))
                if total:
                    found.setdefault((name, depth), {})[storage_class] = total
        ordered = sorted(found.items(), key=lambda item: item[0][0].encode("utf-8"))
        return [PrefixUsage(name, depth, by_class) for (name, depth), by_class in ordered]


def repair(engine: sa.Engine, bucket: str, rule: TotalsRule) -> list[Repair]:
    """Recount ``bucket``'s totals from its rows and set right those that differ.

    The rows and the totals are read in one consistent snapshot, in which they agree but for
    damage; what the recount adds is the difference, as deltas, so writes committed since
    (which added their own) stay counted: workers may run meanwhile. Totals that come to
    nothing are then removed.
    """
    with translated_errors():
        with engine.connect() as connection:
            if connection.dialect.name in _MYSQL:
                connection.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            expected = recount(rule, _live_objects(connection, bucket))
            found = _sums(connection, bucket)
            connection.rollback()
        fixes = corrections(expected, found)
        # Shard 0 takes the repairs: a shard may go negative, their sum stays right.
        deltas = [
            Delta(key, key.prefix.count(rule.delimiter), 0, change) for key, change in fixes.items()
        ]
        with engine.begin() as connection:
            for start in range(0, len(deltas), _REPAIR_BATCH):
                write = delta_write(deltas[start : start + _REPAIR_BATCH], connection.dialect)
                together.execute(connection, [write] if write is not None else [])
            c = _TOTALS.c
            connection.execute(
                _TOTALS.delete().where(c.bucket == bucket, c.object_count == 0, c.byte_count == 0)
            )
    return [Repair(key, found.get(key, Total()), expected.get(key, Total())) for key in fixes]


def _live_objects(
    connection: sa.Connection, bucket: str
) -> Iterator[tuple[str, str, str | None, int | None]]:
    o = ObjectMetadata.__table__.c
    query = sa.select(o.bucket, o.object_key, o.storage_class, o.size).where(
        o.bucket == bucket, o.is_deleted.is_(False), o.never_seen.is_(False)
    )
    result = connection.execution_options(stream_results=True, yield_per=_RECOUNT_BATCH)
    rows = result.execute(query)
    return ((bucket_name, key, kind, size) for bucket_name, key, kind, size in rows)


def _sums(connection: sa.Connection, bucket: str) -> dict[TotalKey, Total]:
    c = _TOTALS.c
    query = (
        sa.select(c.prefix, c.storage_class, sa.func.sum(c.object_count), sa.func.sum(c.byte_count))
        .where(c.bucket == bucket)
        .group_by(c.prefix, c.storage_class)
    )
    return {
        TotalKey(bucket, prefix, storage_class): Total(int(objects), int(size))
        for prefix, storage_class, objects, size in connection.execute(query)
    }
