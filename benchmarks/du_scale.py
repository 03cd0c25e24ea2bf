"""du at scale: ``--rows`` generated objects in MariaDB, their totals, and du's latency.

Generates ``--rows`` live rows of one bucket in a scratch database (MariaDB's SEQUENCE
engine, ``INSERT … SELECT`` a million at a time, keys in index order), under 10 top prefixes
of 100 sub-prefixes of 100 each (``dNNN/sNN/tNN/fNNNNNNNNN``, one in ten GLACIER). Fills
``prefix_totals`` as the writer leaves it (``S3META_TOTALS_DEPTH=3``, 16 shards: each key's
shard is CRC-32 of its key, as ``TotalsRule.shard``), in SQL: the deepest level from the
rows, each level above from the one below. Then:

- du's query (``TotalsReader.usage``) for some prefixes and depths, ``--repeat`` times each:
  p50 / p99 / max in ms, and the prefixes it returned;
- the size of ``object_metadata`` and ``prefix_totals`` (rows, data and index, InnoDB's
  estimate);
- unless ``--no-recount``, ``reconcile --totals``'s recount (``db.totals.repair``), timed:
  it must find nothing to repair, which checks the SQL fill against the Python rule.

    .venv/bin/python -m benchmarks.du_scale --rows 10000000
"""

from __future__ import annotations

import time

import click
import sqlalchemy as sa

from benchmarks.figures import percentile, table
from benchmarks.harness import mysql_option, scratch_database
from db.engine import create_engine
from db.totals import TotalsReader, repair
from s3meta.domain.totals import TotalsRule

BUCKET = "du-scale"
RULE = TotalsRule(depth=3, delimiter="/", shards=16)
_CHUNK = 1_000_000
_KEY = (
    "CONCAT('d', LPAD(seq DIV 1000000, 3, '0'), '/s', LPAD((seq DIV 10000) MOD 100, 2, '0'), "
    "'/t', LPAD((seq DIV 100) MOD 100, 2, '0'), '/f', LPAD(seq, 9, '0'))"
)
_INSERT = f"""
INSERT INTO object_metadata
    (bucket, object_key, size, etag, storage_class, last_modified, is_deleted, never_seen,
     created_at, updated_at)
SELECT '{BUCKET}', {_KEY}, (seq * 7919) MOD 1000000, MD5(seq),
       IF(seq MOD 10 = 0, 'GLACIER', 'STANDARD'), '2026-12-01', 0, 0, NOW(6), NOW(6)
FROM seq_{{start}}_to_{{end}}
"""  # noqa: S608 - our names
# The deepest level from the rows: the key's first parts, the shard CRC-32 of the key.
_FILL = f"""
INSERT INTO prefix_totals
SELECT bucket, prefix, storage_class, shard, {RULE.depth}, COUNT(*), SUM(size) FROM (
    SELECT bucket, CONCAT(SUBSTRING_INDEX(object_key, '/', {RULE.depth}), '/') AS prefix,
           storage_class, CRC32(object_key) MOD {RULE.shards} AS shard, size
    FROM object_metadata WHERE bucket = '{BUCKET}'
) AS levelled GROUP BY bucket, prefix, storage_class, shard
"""  # noqa: S608 - our names
# Each level above from the one below it: every generated key is that deep.
_FILL_ABOVE = """
INSERT INTO prefix_totals
SELECT bucket, {parent}, storage_class, shard, {level}, SUM(object_count), SUM(byte_count)
FROM prefix_totals WHERE bucket = '{bucket}' AND depth = {below}
GROUP BY bucket, {parent}, storage_class, shard
"""
_QUERIES = [("", 1), ("", 2), ("d003/", 1), ("d003/s42/", 1), ("d003/s42/t07/", 0)]


def generate(engine: sa.Engine, rows: int) -> float:
    """Insert ``rows`` rows; the seconds it took."""
    began = time.monotonic()
    for start in range(1, rows + 1, _CHUNK):
        end = min(start + _CHUNK - 1, rows)
        with engine.begin() as connection:
            connection.exec_driver_sql(_INSERT.format(start=start, end=end))
        click.echo(f"  {end:,} rows, {time.monotonic() - began:.0f} s", err=True)
    return time.monotonic() - began


def fill_totals(engine: sa.Engine) -> float:
    """``prefix_totals`` as the writer would leave it for the rows; the seconds it took."""
    began = time.monotonic()
    with engine.begin() as connection:
        connection.exec_driver_sql(_FILL)
    for level in range(RULE.depth - 1, -1, -1):
        parent = (
            "CAST('' AS BINARY)"
            if level == 0
            else f"CONCAT(SUBSTRING_INDEX(prefix, '/', {level}), '/')"
        )
        sql = _FILL_ABOVE.format(parent=parent, level=level, below=level + 1, bucket=BUCKET)
        with engine.begin() as connection:
            connection.exec_driver_sql(sql)
        click.echo(f"  level {level} totals, {time.monotonic() - began:.0f} s", err=True)
    return time.monotonic() - began


def sizes(engine: sa.Engine) -> list[list[str]]:
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE TABLE object_metadata, prefix_totals")
        found = connection.execute(
            sa.text(
                "SELECT table_name, table_rows, data_length, index_length "
                "FROM information_schema.tables WHERE table_schema = DATABASE() "
                "AND table_name IN ('object_metadata', 'prefix_totals') ORDER BY table_name"
            )
        ).all()
        exact = {
            name: connection.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one()  # noqa: S608
            for name in ("object_metadata", "prefix_totals")
        }
    mib = 1024 * 1024
    return [
        [name, f"{exact[name]:,}", f"{data / mib:,.0f} MiB", f"{index / mib:,.0f} MiB"]
        for name, _, data, index in found
    ]


def time_du(engine: sa.Engine, repeat: int) -> list[list[str]]:
    reader = TotalsReader(engine, RULE)
    rows = []
    for prefix, depth in _QUERIES:
        times = []
        returned = 0
        for _ in range(repeat):
            began = time.perf_counter()
            returned = len(reader.usage(BUCKET, prefix, depth))
            times.append((time.perf_counter() - began) * 1000)
        rows.append(
            [
                f"s3://{BUCKET}/{prefix} --depth {depth}",
                str(returned),
                f"{percentile(times, 50):.1f}",
                f"{percentile(times, 99):.1f}",
                f"{max(times):.1f}",
            ]
        )
    return rows


@click.command()
@click.option("--rows", type=click.IntRange(min=1), default=10_000_000, show_default=True)
@click.option("--repeat", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--no-recount", is_flag=True, help="Skip timing reconcile --totals's recount.")
@mysql_option("the MariaDB server (its SEQUENCE engine makes the rows), for a scratch database")
def main(rows: int, repeat: int, no_recount: bool, mysql: str) -> None:
    with scratch_database(mysql) as url:
        engine = create_engine(url)
        try:
            click.echo(f"generating {rows:,} rows", err=True)
            generated = generate(engine, rows)
            filled = fill_totals(engine)
            click.echo(f"rows generated in {generated:.0f} s; totals filled in {filled:.0f} s")
            click.echo(table([["table", "rows", "data", "indexes"], *sizes(engine)]))
            header = ["du query (TotalsReader.usage)", "prefixes", "p50 ms", "p99 ms", "max ms"]
            click.echo(table([header, *time_du(engine, repeat)]))
            if not no_recount:
                began = time.monotonic()
                repairs = repair(engine, BUCKET, RULE)
                took = time.monotonic() - began
                click.echo(f"reconcile --totals recount: {took:.0f} s, {len(repairs)} repairs")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
