"""The machine's Redis (127.0.0.1:6379, or S3META_TEST_REDIS_URL) for tests: a key prefix
of the test's own, its keys deleted afterwards. Skipped loudly locally when absent, failing in
CI, as MySQL is. And a Redis of a test's own that speaks only TLS, with a password, as
ElastiCache with in-transit encryption and AUTH does (``tls_redis``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from s3meta.processes import free_port, stop_process, wait_for
from s3meta.rediscache import scratch_prefix
from tests.support.database import IN_CI

REDIS_URL = os.environ.get("S3META_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis() -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        message = f"Redis not reachable at {REDIS_URL}: {exc}"
        if IN_CI:
            pytest.fail(f"{message} (CI must run the Redis tests)")
        pytest.skip(f"!!! SKIPPING REDIS TEST: {message}")
    finally:
        client.close()


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    require_redis()
    with scratch_prefix(REDIS_URL, "test") as prefix:
        yield prefix


@dataclass(frozen=True)
class TlsRedis:
    """A Redis server of the test's own that speaks only TLS and wants a password."""

    port: int
    password: str
    ca_file: Path

    def url(self, password: str | None = None, ca_file: Path | None = None) -> str:
        secret = self.password if password is None else password
        ca = self.ca_file if ca_file is None else ca_file
        return f"rediss://:{secret}@127.0.0.1:{self.port}/0?ssl_ca_certs={ca}"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for 127.0.0.1, the address clients dial."""
    ca_key, ca, key, request, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    extensions = directory / "server.ext"
    extensions.write_text("subjectAltName = IP:127.0.0.1\n")
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        ca_key,
        "-out",
        ca,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        key,
        "-out",
        request,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        request,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        extensions,
        "-out",
        cert,
    )
    return ca, cert, key


def _openssl(*arguments: str | Path) -> None:
    subprocess.run(["openssl", *map(str, arguments)], check=True, capture_output=True, timeout=60)


@contextmanager
def tls_redis(directory: Path) -> Iterator[TlsRedis]:
    """``redis-server`` on a free port with TLS only and ``requirepass``, stopped afterwards;
    skipped loudly locally (failing in CI) when redis-server or openssl is missing."""
    missing = [name for name in ("redis-server", "openssl") if shutil.which(name) is None]
    if missing:
        message = f"{' and '.join(missing)} not installed"
        if IN_CI:
            pytest.fail(f"{message} (CI must run the Redis TLS tests)")
        pytest.skip(f"!!! SKIPPING REDIS TLS TEST: {message}")
    ca, cert, key = _certificates(directory)
    port, password = free_port(), uuid.uuid4().hex
    server = subprocess.Popen(
        [
            *("redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"),
            *("--tls-cert-file", str(cert), "--tls-key-file", str(key)),
            *("--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"),
            *("--requirepass", password, "--save", "", "--appendonly", "no"),
            *("--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found = TlsRedis(port, password, ca)
        client = redis.Redis.from_url(found.url(), socket_connect_timeout=1)
        wait_for(lambda: _answers(client), 30, "the TLS Redis to answer")
        client.close()
        yield found
    finally:
        stop_process(server, 10)


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.exceptions.RedisError:
        return False
