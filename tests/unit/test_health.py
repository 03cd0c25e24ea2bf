"""Heartbeat files and ``s3meta health``."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from s3meta.cli.health import health
from s3meta.config import get_settings
from s3meta.health import Heartbeat, check


def test_a_heartbeat_touches_its_file_and_removes_it_when_stopped(tmp_path: Path) -> None:
    path = tmp_path / "worker.alive"
    heartbeat = Heartbeat(path, interval=0)

    heartbeat.beat()
    assert path.exists()
    heartbeat.stop()
    assert not path.exists()


def test_a_heartbeat_touches_at_most_once_per_interval(tmp_path: Path) -> None:
    path = tmp_path / "bridge.alive"
    heartbeat = Heartbeat(path, interval=3600)
    heartbeat.beat()
    os.utime(path, (1, 1))

    heartbeat.beat()

    assert path.stat().st_mtime == 1


def test_a_heartbeat_without_a_file_does_nothing(tmp_path: Path) -> None:
    heartbeat = Heartbeat(None)

    heartbeat.beat()
    heartbeat.stop()

    assert list(tmp_path.iterdir()) == []


def test_a_file_that_cannot_be_written_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    Heartbeat(tmp_path / "missing-directory" / "alive", interval=0).beat()

    assert "could not touch the health file" in caplog.text


def test_check_tells_fresh_stale_and_missing_apart(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    path.touch()
    os.utime(path, (1000, 1000))

    assert check(path, max_age=60, now=1030) is None
    assert (
        check(path, max_age=60, now=1100) == f"{path} was last touched 100 s ago (more than 60 s)"
    )
    assert "does not exist" in (check(tmp_path / "gone", max_age=60) or "")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("S3META_HEALTH_FILE", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_health_passes_for_a_fresh_file_named_by_the_environment(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "alive"
    path.touch()

    result = runner.invoke(health, [], env={"S3META_HEALTH_FILE": str(path)})

    assert result.exit_code == 0
    assert result.output == "healthy\n"


def test_health_fails_with_the_reason_for_a_stale_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "alive"
    path.touch()
    old = time.time() - 120
    os.utime(path, (old, old))

    result = runner.invoke(health, ["--file", str(path), "--max-age", "60"])

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: unhealthy: {path} was last touched 12")


def test_health_without_a_file_or_url_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(health, [])

    assert result.exit_code == 2
    assert "give --file or --url, or set S3META_HEALTH_FILE" in result.output


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/healthcheck" else 503
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_health_of_a_url_needs_a_2xx_answer(runner: CliRunner, http_server: str) -> None:
    healthy = runner.invoke(health, ["--url", f"{http_server}/healthcheck"])
    unhealthy = runner.invoke(health, ["--url", f"{http_server}/elsewhere"])

    assert healthy.exit_code == 0
    assert unhealthy.exit_code == 1
    assert unhealthy.output == f"Error: unhealthy: {http_server}/elsewhere answered 503\n"


def test_health_of_a_url_nobody_answers_is_unhealthy(runner: CliRunner) -> None:
    result = runner.invoke(health, ["--url", "http://127.0.0.1:1/healthcheck"])

    assert result.exit_code == 1
    assert "did not answer" in result.output
