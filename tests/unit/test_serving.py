"""Where the API reads a key: the cache while fresh, the replica unless it lags past the
setting, the primary otherwise; on two SQLite databases standing for primary and replica."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db.engine import create_engine, writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.caching import GuardedCache
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.errors import DatabaseUnavailable
from s3meta.memory import MemoryCache
from s3meta.operations.serving import Serving
from tests.support.database import migrate, scratch_sqlite_database
from tests.support.writes import save_state

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def readers(tmp_path: Path) -> Iterator[tuple[ObjectReader, ObjectReader]]:
    """A primary holding version 2 of the key, a replica still at version 1."""
    engines = []
    for size in (2, 1):
        with scratch_sqlite_database(tmp_path) as url:
            migrate(url)
            engine = writer_engine(url)
            save_state(
                MetadataStore(engine),
                ObjectState("b-1", "k", size=size, etag=f"e{size}", last_modified=T0),
                EventInfo(),
            )
            engines.append(engine)
    yield ObjectReader(engines[0]), ObjectReader(engines[1])
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize(("lag", "source", "size"), [(1.0, "replica", 1), (45.0, "primary", 2)])
def test_a_key_is_read_on_the_replica_unless_it_lags_past_the_setting(
    readers: tuple[ObjectReader, ObjectReader], lag: float, source: str, size: int
) -> None:
    primary, replica = readers
    serving = Serving(primary, replica=replica, replica_lag=lambda: lag, max_lag_seconds=30)

    found = serving.lookup("b-1", "k")

    assert (found.source, found.record.size if found.record else None) == (source, size)
    assert serving.reads is replica


def test_a_replica_without_a_lag_figure_sends_key_reads_to_the_primary(
    readers: tuple[ObjectReader, ObjectReader],
) -> None:
    primary, replica = readers

    def stopped() -> float:
        raise DatabaseUnavailable("database unavailable: replica gone")

    serving = Serving(primary, replica=replica, replica_lag=stopped)

    assert serving.lookup("b-1", "k").source == "primary"
    lag = serving.lag()
    assert lag is not None
    assert lag.problem == "database unavailable: replica gone"


def test_a_fresh_cache_entry_answers_and_an_old_one_is_read_again(
    readers: tuple[ObjectReader, ObjectReader],
) -> None:
    primary, _ = readers
    now = [T0]
    cache = MemoryCache()
    serving = Serving(
        primary, cache=GuardedCache(cache), cache_ttl_seconds=60, clock=lambda: now[0]
    )

    first = serving.lookup("b-1", "k")
    cached = serving.lookup("b-1", "k")
    now[0] = T0 + timedelta(seconds=61)
    again = serving.lookup("b-1", "k")

    assert (first.source, cached.source, again.source) == ("primary", "cache", "primary")
    assert cached.record == first.record


def test_an_unknown_key_is_not_cached(readers: tuple[ObjectReader, ObjectReader]) -> None:
    cache = MemoryCache()
    serving = Serving(readers[0], cache=GuardedCache(cache))

    assert serving.lookup("b-1", "nothing").record is None
    assert cache.entries == {}


def test_the_database_problem_is_none_when_it_answers(tmp_path: Path) -> None:
    with scratch_sqlite_database(tmp_path) as url:
        migrate(url)
        engine = create_engine(url)
        serving = Serving(ObjectReader(engine))
        assert serving.database_problem(serving.primary) is None
        engine.dispose()
