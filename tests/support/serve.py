"""``s3meta serve`` as a process of the test's own, and HTTP requests to it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s3meta.processes import free_port, stop_process, wait_for
from tests.support.api import TOKEN
from tests.support.database import ROOT

S3META = shutil.which("s3meta", path=str(Path(sys.executable).parent)) or "s3meta"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, *, token: str | None = TOKEN, timeout: float = 10) -> Answer:
        request = urllib.request.Request(self.url + path)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, dict(response.headers), response.read())
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, dict(exc.headers), exc.read())

    def answers(self) -> bool:
        try:
            return self.get("/healthz", token=None, timeout=1).status == 200
        except OSError:
            return False


@contextmanager
def serving(env: dict[str, str], log: Path, *args: str) -> Iterator[Served]:
    """``s3meta serve`` on a free loopback port with ``env`` (the token of ``TOKEN``)."""
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [S3META, "serve", "--port", str(port), *args],
            cwd=ROOT,
            env={**os.environ, "S3META_API_TOKEN": TOKEN, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_for(
            lambda: served.answers() or process.poll() is not None, 30, "s3meta serve to answer"
        )
        if process.poll() is not None:
            raise RuntimeError(f"s3meta serve exited: {log.read_text()}")
        yield served
    finally:
        stop_process(process, 10)
