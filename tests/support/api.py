"""The API in process (FastAPI's TestClient) on real databases, for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from fastapi.testclient import TestClient

from db.engine import create_engine
from db.reader import ObjectReader
from db.replica import replica_lag
from s3meta.api.app import ApiConfig, create_app
from s3meta.api.page import add_page
from s3meta.caching import GuardedCache
from s3meta.operations.serving import Serving

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def api_client(
    database_url: str,
    *,
    read_url: str | None = None,
    cache: GuardedCache | None = None,
    config: ApiConfig | None = None,
    **serving: Any,
) -> Iterator[tuple[TestClient, Serving]]:
    """A client of the API on ``database_url`` (and a replica at ``read_url``), authorized."""
    primary = create_engine(database_url)
    replica = create_engine(read_url) if read_url else None
    try:
        service = Serving(
            ObjectReader(primary),
            replica=None if replica is None else ObjectReader(replica),
            replica_lag=None if replica is None else partial(replica_lag, replica),
            cache=cache,
            **serving,
        )
        limits = replace(config or ApiConfig(TOKEN, rate_limit=10_000), token=TOKEN)
        app = create_app(service, limits)
        add_page(app, service, limits)
        with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
            yield client, service
    finally:
        primary.dispose()
        if replica is not None:
            replica.dispose()
