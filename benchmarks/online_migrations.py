"""The time of each Alembic revision after ``--from`` on tables of ``--rows`` rows.

A scratch database on ``--mysql`` is migrated to ``--from``; ``object_metadata`` and
``object_journal`` are filled by doubling (``INSERT ... SELECT`` of the table into itself,
so 100,000 rows take seconds); then each later revision is run alone and timed. A revision
that adds columns with ``ALGORITHM=INSTANT`` (``db.online``) takes the same time whatever
the row count; one that copied the table would grow with it.

    .venv/bin/python -m benchmarks.online_migrations --rows 100000
"""

from __future__ import annotations

import time

import click
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from benchmarks.figures import table
from benchmarks.harness import mysql_option, scratch_database
from db.migrations import migrations_folder, upgrade

FIRST_ONLINE = "0003"  # the revision the later ones are measured from
_TABLES = ("object_metadata", "object_journal")
_NOW = "2026-11-20 10:00:00"


def fill(engine: sa.Engine, rows: int) -> int:
    """Fill ``object_metadata`` and ``object_journal`` of ``engine`` with at least ``rows``
    rows each, by doubling; the count reached."""
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO object_metadata (bucket, object_key, version_id, size, etag, "
                "last_modified, storage_class, is_deleted, never_seen, created_at, updated_at) "
                "VALUES ('bench', 'k', 'v', 1, 'e', :now, 'STANDARD', 0, 0, :now, :now)"
            ),
            {"now": _NOW},
        )
        count = 1
        while count < rows:
            # Each copy's key gets the round's own suffix: unique, as the table's are.
            connection.execute(
                sa.text(
                    "INSERT INTO object_metadata (bucket, object_key, version_id, size, etag, "
                    "last_modified, storage_class, is_deleted, never_seen, created_at, "
                    "updated_at) SELECT bucket, CONCAT(object_key, '/', :round), version_id, size, "
                    "etag, last_modified, storage_class, is_deleted, never_seen, created_at, "
                    "updated_at FROM object_metadata"
                ),
                {"round": count.bit_length()},
            )
            count *= 2
        connection.execute(
            sa.text(
                "INSERT INTO object_journal (bucket, object_key, record_type, version_id, "
                "etag, size, applied_at) SELECT bucket, object_key, 'CREATE', version_id, "
                "etag, size, updated_at FROM object_metadata"
            )
        )
    return count


def later_revisions(after: str) -> list[str]:
    """The revisions after ``after`` up to the head, oldest first."""
    script = ScriptDirectory(str(migrations_folder()))
    found = [revision.revision for revision in script.iterate_revisions("heads", after)]
    return [revision for revision in reversed(found) if revision != after]


@click.command()
@click.option("--rows", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--from", "start", default=FIRST_ONLINE, show_default=True)
@mysql_option()
def main(rows: int, start: str, mysql: str) -> None:
    with scratch_database(mysql, start) as url:
        engine = sa.create_engine(url)
        began = time.perf_counter()
        filled = fill(engine, rows)
        fill_seconds = time.perf_counter() - began
        figures = [["revision", "seconds"]]
        for revision in later_revisions(start):
            began = time.perf_counter()
            upgrade(url, revision)
            figures.append([revision, f"{time.perf_counter() - began:.3f}"])
        with engine.connect() as connection:
            counted = connection.execute(sa.text("SELECT COUNT(*) FROM object_metadata")).scalar()
        engine.dispose()
    click.echo(
        f"{filled} rows in each of {', '.join(_TABLES)} (filled in {fill_seconds:.1f} s; "
        f"{counted} after the migrations)"
    )
    click.echo(table(figures))


if __name__ == "__main__":
    main()
