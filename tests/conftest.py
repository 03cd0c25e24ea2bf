"""Fixtures shared by every test: migrated databases on SQLite and MariaDB."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.engine import create_engine, writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from tests.support.database import migrate, scratch_mysql_database, scratch_sqlite_database


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, which
    # the CLI takes for a terminal's size; the tests expect what a plain pipe gives.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A SQLite database migrated to head."""
    with scratch_sqlite_database(tmp_path) as url:
        migrate(url)
        yield url


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A MariaDB/MySQL database migrated to head, dropped after the test."""
    with scratch_mysql_database() as url:
        migrate(url)
        yield url


@pytest.fixture(params=["sqlite", "mysql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database of each kind in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "mysql_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def store(database_url: str) -> Iterator[MetadataStore]:
    """The writer, on an engine as the worker's (several statements a query on MySQL)."""
    engine = writer_engine(database_url)
    yield MetadataStore(engine)
    engine.dispose()


@pytest.fixture
def reader(database_url: str) -> Iterator[ObjectReader]:
    """A reader on the same database as ``store``."""
    engine = create_engine(database_url)
    yield ObjectReader(engine)
    engine.dispose()


# The real stack's session fixtures (moto server, fault proxy, worker on MariaDB).
pytest_plugins = ["tests.support.stack"]
