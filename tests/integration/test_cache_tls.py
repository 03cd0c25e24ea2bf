"""The record cache over TLS with a password (``rediss://``), as ElastiCache with in-transit
encryption and AUTH serves it: on a Redis of the test's own that speaks nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from s3meta import composition
from s3meta.caching import GuardedCache
from s3meta.config import Settings
from tests.support.records import T0, record
from tests.support.redis import TlsRedis, tls_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TlsRedis]:
    with tls_redis(tmp_path) as found:
        yield found


def cache_at(url: str) -> GuardedCache:
    found = composition.cache(Settings(cache_url=url))
    assert found is not None
    return found


def test_a_rediss_url_with_the_servers_ca_and_password_caches_records(server: TlsRedis) -> None:
    cache = cache_at(server.url())
    written = record(T0)

    assert cache.put(written)
    found = cache.get(written.bucket, written.object_key)

    assert found is not None
    assert found.record == written
    assert cache.problem() is None
    assert cache.failures == 0


def test_a_wrong_password_is_one_problem_that_names_no_password(server: TlsRedis) -> None:
    cache = cache_at(server.url(password="not-the-password"))

    assert not cache.put(record(T0))
    problem = cache.problem()

    assert problem is not None
    assert "\n" not in problem
    assert "not-the-password" not in problem
    assert cache.failures == 2


def test_a_server_certificate_from_another_ca_is_refused(server: TlsRedis, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with tls_redis(other) as stranger:
        cache = cache_at(server.url(ca_file=stranger.ca_file))

        assert cache.get("b-1", "k é") is None
        assert cache.problem() is not None
        assert cache.failures == 2


def test_plain_redis_to_a_tls_only_server_is_refused_not_hung(server: TlsRedis) -> None:
    cache = cache_at(f"redis://:{server.password}@127.0.0.1:{server.port}/0")

    assert cache.get("b-1", "k é") is None
    assert cache.problem() is not None
