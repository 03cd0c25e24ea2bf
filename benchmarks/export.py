"""``s3meta export``'s rows/s, peak RSS and file size, at two table sizes, in every format.

Fills two buckets of a scratch MariaDB/MySQL database (``--small`` and ``--rows`` rows) in a
few statements: a table of numbers grown by INSERT … SELECT doubling, then one INSERT …
SELECT per bucket that makes a row per number (keys in order, three storage classes,
metadata maps, tags on every other row, one row in 50 deleted). Then runs the real command,
``python -m s3meta.cli export s3://BUCKET -o FILE``, once per bucket and format, each a
process of its own, and reads its peak RSS from the kernel (``wait4``'s ``ru_maxrss``).

Memory is constant if the peak at ``--rows`` is within ``--max-growth`` times the peak at
``--small``; the run fails (exit 1) otherwise. Below one row group (``--row-group-size``)
Parquet's memory grows with the group, so compare sizes of at least one group. Each run
reports the export process's CPU too, which a busy machine does not change where rows/s
falls.

    .venv/bin/python -m benchmarks.export                      # 100,000 and 1,000,000 rows
    .venv/bin/python -m benchmarks.export --small 10000 --rows 100000 --formats parquet
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import sqlalchemy as sa

from benchmarks.figures import table
from benchmarks.harness import scratch_database
from s3meta.domain.exports import Format
from s3meta.operations.export import ROW_GROUP_SIZE

_MIB = 1024 * 1024

# A row per number below :rows; the columns left out are NULL (or their default).
_ROWS = sa.text(
    "INSERT INTO object_metadata (bucket, object_key, size, etag, content_type, last_modified,"
    " storage_class, user_metadata, sequencer, event_name, event_time, is_deleted, deleted_at,"
    " deleted_by, never_seen, tags, created_at, updated_at, last_task_id)"
    " SELECT :bucket, CONCAT('data/', LPAD(i DIV 1000, 4, '0'), '/object-', LPAD(i, 9, '0'),"
    " '.bin'), (i * 7919) % 10000000, MD5(i), 'application/octet-stream',"
    " TIMESTAMPADD(SECOND, i, '2026-01-01'), ELT(1 + i % 3, 'STANDARD', 'STANDARD_IA',"
    " 'GLACIER'), JSON_OBJECT('owner', 'zoë', 'batch', CAST(i DIV 1000 AS CHAR)),"
    " LPAD(HEX(i), 18, '0'), IF(i % 50 = 0, 'ObjectRemoved:Delete', 'ObjectCreated:Put'),"
    " TIMESTAMPADD(SECOND, i, '2026-01-01'), i % 50 = 0,"
    " IF(i % 50 = 0, TIMESTAMPADD(SECOND, i, '2026-02-01'), NULL),"
    " IF(i % 50 = 0, 'ObjectRemoved:Delete', NULL), FALSE,"
    " IF(i % 2 = 1, JSON_OBJECT('team', 'data'), NULL), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6),"
    " CONCAT('task-', i) FROM bench_numbers WHERE i < :rows"
)


@dataclass(frozen=True)
class Run:
    """One export: its format and rows, and what it took."""

    file_format: Format
    rows: int
    seconds: float
    peak_rss: int  # bytes
    file_size: int  # bytes
    cpu_seconds: float = 0.0  # user + system, of the export's process

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def rows_per_cpu_second(self) -> float:
        """Rows per second of the process's own CPU: what a machine busy with other work
        leaves unchanged, where rows/s falls with the CPU share the export gets."""
        return self.rows / self.cpu_seconds if self.cpu_seconds else 0.0


def doubling_rounds(rows: int) -> list[int]:
    """The counts the numbers table has before each doubling, until it holds ``rows``."""
    rounds = []
    count = 1
    while count < rows:
        rounds.append(count)
        count *= 2
    return rounds


def growth(small: Run, large: Run) -> float:
    """How many times the small export's peak RSS the large one's is."""
    return large.peak_rss / small.peak_rss


def fill(database_url: str, buckets: dict[str, int]) -> None:
    """Each bucket with its count of rows."""
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE bench_numbers (i BIGINT PRIMARY KEY)"))
            connection.execute(sa.text("INSERT INTO bench_numbers VALUES (0)"))
            for count in doubling_rounds(max(buckets.values())):
                connection.execute(
                    sa.text(
                        "INSERT INTO bench_numbers SELECT i + :count FROM bench_numbers"
                        " WHERE i + :count < :rows"
                    ),
                    {"count": count, "rows": max(buckets.values())},
                )
        for bucket, rows in buckets.items():
            with engine.begin() as connection:
                connection.execute(_ROWS, {"bucket": bucket, "rows": rows})
    finally:
        engine.dispose()


def export_once(
    database_url: str, bucket: str, file_format: Format, path: Path, row_group_size: int
) -> Run:
    """``s3meta export`` of ``bucket`` to ``path`` in a process of its own, measured."""
    command = [
        sys.executable, "-m", "s3meta.cli", "export", f"s3://{bucket}", "--format",
        str(file_format), "--row-group-size", str(row_group_size), "-o", str(path),
    ]  # fmt: skip
    env = {**os.environ, "S3META_DATABASE_URL": database_url}
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise click.ClickException(f"export of {bucket} as {file_format} failed: {errors}")
    rows = int(errors.split("exported ", 1)[1].split(" ", 1)[0])
    # Linux gives ru_maxrss in KiB.
    cpu = usage.ru_utime + usage.ru_stime
    return Run(file_format, rows, seconds, usage.ru_maxrss * 1024, path.stat().st_size, cpu)


def report(runs: Sequence[Run]) -> str:
    header = [
        "format", "rows", "seconds", "rows/s", "CPU s", "rows/CPU s", "peak RSS MiB", "file MiB",
        "bytes/row",
    ]  # fmt: skip
    lines = [header]
    for run in runs:
        lines.append(
            [
                str(run.file_format),
                f"{run.rows:,}",
                f"{run.seconds:.1f}",
                f"{run.rows_per_second:,.0f}",
                f"{run.cpu_seconds:.1f}",
                f"{run.rows_per_cpu_second:,.0f}",
                f"{run.peak_rss / _MIB:.1f}",
                f"{run.file_size / _MIB:.1f}",
                f"{run.file_size / max(run.rows, 1):.0f}",
            ]
        )
    return table(lines, align="lrrrrrrrr")


@click.command()
@click.option("--mysql", default="mysql+pymysql://root@127.0.0.1:3306", show_default=True)
@click.option("--rows", type=click.IntRange(2), default=1_000_000, show_default=True)
@click.option("--small", type=click.IntRange(1), default=100_000, show_default=True)
@click.option(
    "--formats",
    default=",".join(Format),
    show_default=True,
    help="Comma-separated formats to export.",
)
@click.option("--row-group-size", type=click.IntRange(1), default=ROW_GROUP_SIZE, show_default=True)
@click.option(
    "--max-growth",
    type=click.FloatRange(min=1.0),
    default=1.25,
    show_default=True,
    help="Fail if the large export's peak RSS is more than this many times the small one's.",
)
def main(
    mysql: str, rows: int, small: int, formats: str, row_group_size: int, max_growth: float
) -> None:
    """Measure s3meta export's rows/s, peak RSS and file size at two table sizes."""
    if small >= rows:
        raise click.BadParameter("--small must be below --rows", param_hint="--small")
    chosen = [Format(name.strip()) for name in formats.split(",") if name.strip()]
    buckets = {"bench-small": small, "bench-large": rows}
    with tempfile.TemporaryDirectory() as scratch, scratch_database(mysql) as database_url:
        started = time.monotonic()
        fill(database_url, buckets)
        click.echo(f"filled {small:,} + {rows:,} rows in {time.monotonic() - started:.0f} s")
        runs: list[tuple[Run, Run]] = []
        for file_format in chosen:
            pair = tuple(
                export_once(
                    database_url,
                    bucket,
                    file_format,
                    Path(scratch) / f"{bucket}.{file_format}",
                    row_group_size,
                )
                for bucket in buckets
            )
            runs.append((pair[0], pair[1]))
    click.echo(report([run for pair in runs for run in pair]))
    worst = max(growth(small_run, large_run) for small_run, large_run in runs)
    click.echo(
        f"peak RSS at {rows:,} rows / at {small:,} rows: at most {worst:.2f}x "
        f"(bound {max_growth:.2f}x)"
    )
    if worst > max_growth:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
