"""Real processes for local runs, tests and benchmarks: a Celery worker, moto's server, the
bridge and the relay."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class WorkerProcess:
    """``celery -A tasks worker`` in a subprocess, its output in ``log_path``.

    Its node name is ``hostname`` if given, else unique to the calling process and ``name``.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        concurrency: int = 2,
        pool: str = "prefork",
        name: str = "s3meta",
        hostname: str | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 60,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        command = [
            sys.executable, "-m", "celery", "-A", "tasks", "worker",
            "--loglevel", "INFO", "--pool", pool, "--concurrency", str(concurrency),
            "--hostname", hostname or f"{name}-{os.getpid()}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            *extra_args,
        ]  # fmt: skip
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(self._ready, ready_timeout, "the celery worker to be ready")
        except BaseException:
            self.stop(timeout=10)
            raise

    def _ready(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"the worker exited with {self._process.returncode}:\n{self.log()}")
        return b" ready." in self.log_path.read_bytes()

    @property
    def pid(self) -> int:
        return self._process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def describe(self) -> str:
        """One line: the pid and whether the worker still runs."""
        code = self._process.poll()
        state = "running" if code is None else f"exited with {code}"
        return f"worker pid {self.pid}: {state}"

    def stop(self, timeout: float = 30) -> int:
        """Warm shutdown (SIGTERM), SIGKILL after ``timeout`` s; returns the exit status."""
        code = stop_process(self._process, timeout=timeout)
        self._log.close()
        return code


class CommandProcess:
    """An ``s3meta`` command in a subprocess, its output in ``log_path``; ready once its log
    holds ``ready``."""

    def __init__(
        self,
        command: Sequence[str],
        ready: bytes,
        env: Mapping[str, str],
        log_path: Path,
        *,
        cwd: Path | None = None,
    ) -> None:
        self.name = command[0]
        self.log_path = log_path
        self._ready_marker = ready
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "s3meta.cli", *command],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
        try:
            wait_for(self._ready, 30, f"the {self.name}")
        except BaseException:
            self.stop(timeout=10)
            raise

    def _ready(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(
                f"the {self.name} exited with {self._process.returncode}:\n{self.log()}"
            )
        return self._ready_marker in self.log_path.read_bytes()

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no round finished, no commit made."""
        self._process.kill()
        self._process.wait(timeout=10)
        self._log.close()

    def wait(self, timeout: float) -> int:
        """The exit status once it exits by itself (``TimeoutExpired`` after ``timeout``)."""
        code = self._process.wait(timeout=timeout)
        self._log.close()
        return code

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (it stops after its batch or round), SIGKILL after ``timeout`` s."""
        code = stop_process(self._process, timeout=timeout)
        self._log.close()
        return code


class BridgeProcess(CommandProcess):
    """``s3meta bridge`` in a subprocess; ready once it logs."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: Path,
        *,
        concurrency: int = 1,
        args: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:
        command = ["bridge", "--concurrency", str(concurrency), *args]
        super().__init__(command, b"bridge: ", env, log_path, cwd=cwd)


class RelayProcess(CommandProcess):
    """``s3meta relay`` in a subprocess; ready once it logs."""

    def __init__(
        self, env: Mapping[str, str], log_path: Path, *, args: Sequence[str] = (),
        cwd: Path | None = None,
    ) -> None:  # fmt: skip
        super().__init__(["relay", *args], b"relay: ", env, log_path, cwd=cwd)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return int(process.returncode)


class MotoServer:
    """moto's standalone server on a free loopback port, in its own process.

    It runs with its SQS queues made safe for concurrent clients (``s3meta.moto_server``).
    """

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "s3meta.moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, 30, f"moto server on port {self.port}")

    @property
    def pid(self) -> int:
        return self._process.pid

    def _answers(self) -> bool:
        if self._process.poll() is not None:
            raise RuntimeError(f"moto server exited with {self._process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self._process, timeout=10)
        self._log.close()
