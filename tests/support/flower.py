"""``celery -A tasks flower`` in a subprocess, and what its sockets listen on."""

from __future__ import annotations

import base64
import ipaddress
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from s3meta.processes import free_port, stop_process, wait_for
from tests.support.database import ROOT

USER = "ops"
PASSWORD = "flower-test-secret"
CELERY_FLOWER = ("-m", "celery", "-A", "tasks", "flower")
# /proc/net/tcp's state of a listening socket.
_LISTEN = "0A"


def flower_command(
    port: int | None = None,
    *,
    address: str | None = "127.0.0.1",
    python: Sequence[str] = (sys.executable,),
    extra: Sequence[str] = (),
) -> list[str]:
    """``celery -A tasks flower``; ``--port``/``--address`` only when given."""
    command = [*python, *CELERY_FLOWER]
    if port is not None:
        command.append(f"--port={port}")
    if address is not None:
        command.append(f"--address={address}")
    return [*command, *extra]


def flower_env(env: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any FLOWER_* variable, plus ``env``."""
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith("FLOWER_")
    }
    return {**inherited, **env}


def listening_addresses(port: int) -> set[str]:
    """The local addresses of TCP sockets (IPv4 and IPv6) listening on ``port`` (Linux)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            hex_address, _, hex_port = local.partition(":")
            if state != _LISTEN or int(hex_port, 16) != port:
                continue
            raw = bytes.fromhex(hex_address)
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            packed = b"".join(raw[start : start + 4][::-1] for start in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(packed)))
    return found


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class FlowerProcess:
    """A Flower process on a free port, its output in ``log_path``.

    By default it runs from the repository root with ``--port`` and ``--address=127.0.0.1``;
    ``command`` (given the port) and ``cwd`` start it otherwise, ``address`` is where it
    answers.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        ready_timeout: float = 60,
        *,
        command: Sequence[str] | None = None,
        port: int | None = None,
        address: str = "127.0.0.1",
        cwd: Path = ROOT,
    ) -> None:
        self.port = port if port is not None else free_port()
        self.url = f"http://{address}:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(
            list(command) if command is not None else flower_command(self.port),
            cwd=cwd,
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
