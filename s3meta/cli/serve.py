"""``s3meta serve``: the HTTP API and browsing page, on uvicorn."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import click

from s3meta import composition
from s3meta.config import Settings, get_settings
from s3meta.errors import ConfigError

if TYPE_CHECKING:
    from fastapi import FastAPI

LOOPBACK = "127.0.0.1"


@click.command("serve")
@click.option(
    "--host",
    default=LOOPBACK,
    envvar="S3META_API_HOST",
    show_default=True,
    help="Address to listen on; loopback unless told otherwise (0.0.0.0: every interface). "
    "[env: S3META_API_HOST]",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the index read-only over HTTP: JSON API (OpenAPI at /docs) and a browsing page.

    Every request needs the bearer token of S3META_API_TOKEN (or S3META_API_TOKEN_SECRET_ARN).
    Reads go to S3META_DATABASE_READ_URL when set, key lookups through S3META_CACHE_URL.
    """
    import uvicorn

    settings = get_settings()
    with build_app(settings) as app:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def build_app(settings: Settings) -> AbstractContextManager[FastAPI]:
    """The app, as ``s3meta serve`` runs it; ``ConfigError`` without a token."""
    from s3meta.api.composition import serving_app

    token = composition.api_token(settings)
    if not token:
        raise ConfigError("no API token: set S3META_API_TOKEN (or S3META_API_TOKEN_SECRET_ARN)")
    return serving_app(settings, token)
