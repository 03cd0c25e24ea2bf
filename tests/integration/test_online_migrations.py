"""The revisions after 0003 are online on MariaDB: instant on tables of 131,072 rows."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from alembic import command
from benchmarks.online_migrations import FIRST_ONLINE, fill, later_revisions
from db.migrations import alembic_config, downgrade, migrations_folder, upgrade
from tests.support.database import scratch_mysql_database

ROWS = 100_000


@pytest.fixture
def big_tables() -> Iterator[tuple[str, int]]:
    """A MariaDB database at 0003 whose object and journal tables hold at least ROWS rows."""
    with scratch_mysql_database() as url:
        upgrade(url, FIRST_ONLINE)
        engine = sa.create_engine(url)
        try:
            yield url, fill(engine, ROWS)
        finally:
            engine.dispose()


def _instant_alters(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SHOW GLOBAL STATUS LIKE 'Innodb_instant_alter_column'")
        ).one()
    return int(row[1])


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        objects = connection.execute(sa.text("SELECT COUNT(*) FROM object_metadata")).scalar()
        journal = connection.execute(sa.text("SELECT COUNT(*) FROM object_journal")).scalar()
    return int(objects or 0), int(journal or 0)


def test_every_revision_after_0003_says_whether_it_is_online() -> None:
    script = ScriptDirectory(str(migrations_folder()))
    revisions = later_revisions(FIRST_ONLINE)
    assert revisions
    for revision in revisions:
        doc = script.get_revision(revision).longdoc
        assert re.search(r"^Online: ", doc, re.MULTILINE), f"{revision} says nothing of it"


def test_every_alter_after_0003_is_instant_on_mariadb() -> None:
    buffer = io.StringIO()
    config = alembic_config("mariadb+pymysql://root@127.0.0.1/offline")
    config.output_buffer = buffer
    command.upgrade(config, f"{FIRST_ONLINE}:head", sql=True)
    alters = [s for s in buffer.getvalue().split(";") if "ALTER TABLE" in s]
    assert alters
    assert all("ALGORITHM=INSTANT" in statement for statement in alters), alters


def test_the_revisions_after_0003_run_instantly_on_tables_of_100000_rows_and_back(
    big_tables: tuple[str, int],
) -> None:
    url, filled = big_tables
    assert filled >= ROWS
    engine = sa.create_engine(url)
    try:
        instant_before = _instant_alters(engine)
        # ALGORITHM=INSTANT: the server refuses, rather than copies, what it cannot do so.
        upgrade(url)
        instant_after = _instant_alters(engine)
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("object_metadata")}
            unfilled = connection.execute(
                sa.text("SELECT COUNT(*) FROM object_metadata WHERE headers IS NULL")
            ).scalar()
        assert _counts(engine) == (filled, filled)
        assert {"principal_id", "replication_status", "headers"} <= columns
        assert unfilled == filled  # for backfill --only-missing to fill
        assert instant_after - instant_before >= 3  # 0004's two tables, 0005's one

        downgrade(url, FIRST_ONLINE)
        assert _counts(engine) == (filled, filled)
    finally:
        engine.dispose()
