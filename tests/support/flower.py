"""``celery -A tasks flower`` in a subprocess, from the repository root (its flowerconfig.py)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from s3meta.processes import free_port, stop_process, wait_for
from tests.support.database import ROOT

USER = "ops"
PASSWORD = "flower-test-secret"


def flower_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "tasks", "flower",
        f"--port={port}", "--address=127.0.0.1",
    ]  # fmt: skip


def flower_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any FLOWER_* variable, plus ``env``."""
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith("FLOWER_")
    }
    return {**inherited, **env}


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class FlowerProcess:
    """A Flower process on a free loopback port, its output in ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, ready_timeout: float = 60) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(
            flower_command(self.port),
            cwd=ROOT,
            env=flower_env({"FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}", **env}),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(self._answers, ready_timeout, f"Flower on port {self.port}")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"Flower exited with {self._process.returncode}:\n{self.log()}")
        try:
            return self.get("/healthcheck", auth=None).status in {200, 401}
        except OSError:
            return False

    def get(self, path: str, *, auth: tuple[str, str] | None = (USER, PASSWORD)) -> Response:
        """GET ``path``; an HTTP error status is returned, not raised."""
        request = urllib.request.Request(f"{self.url}{path}")
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return Response(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, SIGKILL after ``timeout`` s; returns the exit status."""
        code = stop_process(self._process, timeout=timeout)
        self._log.close()
        return code
