"""The HTTP API of ``s3meta serve``: read-only JSON over the index, OpenAPI at /docs.

Every route but /healthz (and the docs) needs ``Authorization: Bearer <S3META_API_TOKEN>``
(the browsing page takes the same token once and keeps it in a cookie). Every bad parameter
is a 422 with one line saying which and why; a database that cannot be reached is a 503,
except for key lookups the cache can answer, marked stale.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from s3meta.api.params import BadParameter, Listing, encode_cursor, parse_listing
from s3meta.domain.names import bucket_name_problem, key_problem
from s3meta.domain.times import iso_utc
from s3meta.errors import S3MetaError
from s3meta.operations.query import never_seen_line
from s3meta.operations.serving import Found, Serving
from s3meta.operations.stats import PeekableQueue, collect_stats
from s3meta.render import journal_to_json, row_to_json, stats_to_json

LAG_HEADER = "X-S3meta-Replica-Lag"
SOURCE_HEADER = "X-S3meta-Source"
STALE_HEADER = "X-S3meta-Stale"
TOKEN_COOKIE = "s3meta_token"  # noqa: S105 - the cookie's name
# GET /stats groups the whole table: it is computed at most this often.
STATS_EVERY_SECONDS = 30.0
_HISTORY = "/history"
_OPEN_PATHS = frozenset(
    {"/healthz", "/docs", "/openapi.json", "/docs/oauth2-redirect", "/ui/login"}
)

QueuesFor = Callable[[], Sequence[tuple[str, PeekableQueue]]]


@dataclass(frozen=True)
class ApiConfig:
    """The API's limits and its token."""

    token: str
    page_size: int = 100
    max_page_size: int = 1000
    scan_limit: int = 5000
    rate_limit: float = 50  # requests per second per client, bursts of twice that
    queues: QueuesFor = field(default=lambda: ())


class RateLimiter:
    """A token bucket per client: ``rate`` a second, ``2 * rate`` at once."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """0 if ``client`` may go now (and counts it), else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget the idle ones
                self._buckets = {client: self._buckets[client]}
            return 0.0


def error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


def create_app(service: Serving, config: ApiConfig) -> FastAPI:
    """The API over ``service``, with ``config``'s token and limits."""
    app = FastAPI(
        title="s3meta",
        summary="The metadata of every object in the indexed S3 buckets, read-only.",
        version="1",
    )
    limiter = RateLimiter(config.rate_limit)
    stats_cache: dict[str, tuple[float, dict[str, Any]]] = {}

    @app.middleware("http")
    async def guard(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        client = request.client.host if request.client else "-"
        wait = limiter.wait(client)
        if wait:
            return error(429, "too many requests", **{"Retry-After": str(int(wait) + 1)})
        path = request.url.path
        if (
            path not in _OPEN_PATHS
            and not path.startswith("/static")
            and not _authorized(request, config.token)
        ):
            if path == "/" or path.startswith("/ui"):
                return Response(status_code=303, headers={"Location": "/ui/login"})
            return error(401, "a bearer token is required", **{"WWW-Authenticate": "Bearer"})
        response = await call_next(request)
        lag = service.lag()
        if lag is not None:
            response.headers[LAG_HEADER] = "unknown" if lag.seconds is None else f"{lag.seconds:g}"
        return response

    @app.exception_handler(BadParameter)
    async def bad_parameter(_request: Request, exc: BadParameter) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        return error(422, f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(S3MetaError)
    async def unavailable(_request: Request, exc: S3MetaError) -> JSONResponse:
        return error(503, str(exc))

    @app.get("/healthz", summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: database, replica lag, cache")
    def readyz() -> JSONResponse:
        return _readiness(service)

    @app.get(
        "/objects",
        summary="List objects of a bucket",
        description="Filters: bucket (required), prefix, content_type, storage_class, "
        "replication_status, checksum_type, content_encoding, min_size, max_size (bytes), "
        "modified_after, modified_before (ISO 8601), deleted "
        "(true: only deleted, false: only live; absent: both), tag.NAME=VALUE and "
        "metadata.NAME=VALUE (up to 10). Keyset pagination: pass the response's "
        "next_cursor as cursor. Filters beyond bucket and prefix are not indexed: each "
        "page reads a bounded window of the index (scanned), so a page may be short, even "
        "empty, and still have a next_cursor.",
    )
    def list_objects(
        request: Request,
        bucket: str | None = Query(None, description="The bucket to list (required)."),
        prefix: str | None = Query(None),
        limit: str | None = Query(None, description=f"1 to {config.max_page_size}."),
        cursor: str | None = Query(None),
    ) -> dict[str, Any]:
        listing = parse_listing(
            list(request.query_params.multi_items()),
            default_limit=config.page_size,
            max_limit=config.max_page_size,
        )
        return list_page(service, listing, config.scan_limit)

    @app.get("/stats", summary="Rows, bytes, attempts and queue depths")
    def stats(bucket: str | None = Query(None)) -> dict[str, Any]:
        if bucket is not None and (problem := bucket_name_problem(bucket)):
            raise BadParameter("bucket", problem)
        cached = stats_cache.get(bucket or "")
        if cached is not None and time.monotonic() - cached[0] < STATS_EVERY_SECONDS:
            return cached[1]
        unavailable = None
        try:
            queues = config.queues()
        except S3MetaError as exc:
            # The database's counts stand without the queues: say why they are missing.
            queues, unavailable = (), str(exc)
        report = collect_stats(
            service.reads, queues, bucket=bucket, peek=False, now=datetime.now(UTC)
        )
        body = stats_to_json(report)
        if unavailable is not None:
            body["queues_unavailable"] = unavailable
        for column in ("storage_class", "content_type"):
            body[f"by_{column}"] = [
                {column: share.value, "objects": share.objects, "bytes": share.bytes}
                for share in service.reads.breakdown(column, bucket)
            ]
        body["bytes"] = sum(share["bytes"] for share in body["by_storage_class"])
        stats_cache[bucket or ""] = (time.monotonic(), body)
        return body

    @app.get(
        "/objects/{bucket}/{key:path}",
        summary="One object, or its journal (…/history)",
        description="The key as it is, percent-encoded. A path ending in /history gives the "
        "key's journal; a key that itself ends in /history writes that slash as %2F.",
    )
    def get_object(request: Request, bucket: str, key: str) -> JSONResponse:
        bucket, key, history = split_object_path(request, bucket, key)
        if history:
            return _history(service, bucket, key)
        found = service.lookup(bucket, key)
        return object_response(bucket, key, found)

    return app


def list_page(service: Serving, listing: Listing, scan_limit: int) -> dict[str, Any]:
    page = service.reads.page(
        listing.where, after=listing.after, limit=listing.limit, scan=scan_limit
    )
    following = page.next_after
    return {
        "objects": [row_to_json(record) for record in page.records],
        "next_cursor": None if following is None else encode_cursor(following, listing.where),
        "scanned": page.scanned,
    }


def split_object_path(
    request: Request, bucket: str, key: str, *, prefix: str = "/objects/"
) -> tuple[str, str, bool]:
    """The (bucket, key) a path names and whether it asks for the journal, from the raw path:
    a literal "/history" suffix is the journal's, an encoded one ("%2Fhistory") the key's."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        rest = raw.decode("latin-1").split("?", 1)[0].removeprefix(prefix)
        raw_bucket, _, raw_key = rest.partition("/")
        history = raw_key.endswith(_HISTORY)
        if history:
            raw_key = raw_key.removesuffix(_HISTORY)
        try:
            bucket = unquote(raw_bucket, errors="strict")
            key = unquote(raw_key, errors="strict")
        except UnicodeDecodeError:
            raise BadParameter("key", "the path is not percent-encoded UTF-8") from None
    else:
        history = key.endswith(_HISTORY)
        key = key.removesuffix(_HISTORY) if history else key
    if problem := bucket_name_problem(bucket):
        raise BadParameter("bucket", problem)
    if problem := key_problem(key):
        raise BadParameter("key", problem)
    return bucket, key, history


def object_response(bucket: str, key: str, found: Found) -> JSONResponse:
    headers = {SOURCE_HEADER: found.source}
    if found.stale:
        headers[STALE_HEADER] = "true"
    record = found.record
    if record is None:
        return JSONResponse(
            {"error": f"no record of s3://{bucket}/{key}"}, status_code=404, headers=headers
        )
    if record.never_seen:
        return JSONResponse({"error": never_seen_line(record)}, status_code=404, headers=headers)
    body = row_to_json(record)
    body["stale"] = found.stale
    if found.stale:
        body["cached_at"] = iso_utc(found.cached_at)
    return JSONResponse(body, headers=headers)


def _history(service: Serving, bucket: str, key: str) -> JSONResponse:
    journal = service.history(bucket, key)
    if not journal:
        return error(404, f"no journal entries for s3://{bucket}/{key}")
    return JSONResponse(
        {"bucket": bucket, "key": key, "history": [journal_to_json(entry) for entry in journal]}
    )


def _readiness(service: Serving) -> JSONResponse:
    database = service.database_problem(service.primary)
    body: dict[str, Any] = {"database": {"ok": database is None, "error": database}}
    lag = service.lag()
    if lag is not None:
        body["replica"] = {
            "ok": lag.seconds is not None,
            "lag_seconds": lag.seconds,
            "error": lag.problem,
        }
    if service.cache is not None:
        problem = service.cache.problem()
        body["cache"] = {
            "ok": problem is None,
            "error": problem,
            "failures": service.cache.failures,
        }
    if database is not None and service.cache is not None and body["cache"]["ok"]:
        # Key lookups still answer from the cache, marked stale; listings do not.
        body["status"] = "degraded: database unreachable, key lookups served stale from the cache"
        return JSONResponse(body, status_code=503, headers={STALE_HEADER: "true"})
    ready = database is None
    body["status"] = "ready" if ready else "not ready"
    return JSONResponse(body, status_code=200 if ready else 503)


def _authorized(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer":
        value = request.cookies.get(TOKEN_COOKIE, "")
    return bool(value) and hmac.compare_digest(value.strip().encode(), token.encode())
