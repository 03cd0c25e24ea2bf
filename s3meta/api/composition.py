"""The API's parts from the settings: readers on the primary and the replica, the replica's
lag, the cache, the queues for /stats."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial

from fastapi import FastAPI

from db.engine import create_engine, require_database
from db.reader import ObjectReader
from db.replica import replica_lag
from s3meta import composition
from s3meta.api.app import ApiConfig, create_app
from s3meta.api.page import add_page
from s3meta.config import Settings
from s3meta.operations.serving import Serving
from s3meta.operations.stats import PeekableQueue


@contextmanager
def serving_app(settings: Settings, token: str) -> Iterator[FastAPI]:
    """The app on the settings' databases and cache, its engines disposed of on exit."""
    primary_url = composition.database_url(settings)
    require_database(primary_url)
    primary = create_engine(primary_url, timeouts=True)
    replica = None
    if settings.database_read_url:
        replica = create_engine(composition.read_database_url(settings), timeouts=True)
    try:
        service = Serving(
            ObjectReader(primary),
            replica=None if replica is None else ObjectReader(replica),
            replica_lag=None if replica is None else partial(replica_lag, replica),
            cache=composition.cache(settings),
            max_lag_seconds=settings.replica_max_lag_seconds,
            cache_ttl_seconds=settings.cache_ttl_seconds,
        )
        config = ApiConfig(
            token=token,
            page_size=min(settings.api_page_size, settings.api_max_page_size),
            max_page_size=settings.api_max_page_size,
            scan_limit=settings.api_scan_limit,
            rate_limit=settings.api_rate_limit,
            queues=partial(_queues, settings),
        )
        app = create_app(service, config)
        add_page(app, service, config)
        yield app
    finally:
        primary.dispose()
        if replica is not None:
            replica.dispose()


def _queues(settings: Settings) -> Sequence[tuple[str, PeekableQueue]]:
    from s3meta.aws.clients import sqs_client
    from s3meta.aws.sqs import pipeline_queues

    return pipeline_queues(sqs_client(settings), settings)
