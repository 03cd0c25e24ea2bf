"""``s3meta backfill`` as an operator runs it: the console script, on a terminal or not,
stopped by SIGTERM and resumed. Its tasks go to a queue of the test's own, which no worker
reads, so that they can be counted there."""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3meta.aws.sqs import Queue
from s3meta.processes import stop_process, wait_for
from tests.support.messages import decode_body
from tests.support.stack import Stack

# The console script beside this interpreter: the venv's, even when its bin is not on PATH.
S3META = shutil.which("s3meta", path=str(Path(sys.executable).parent)) or shutil.which("s3meta")
RUN_TIMEOUT = 60
# Variables with which rich would take a pipe for a terminal, or the other way round.
_RICH_OVERRIDES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_STOPPED = re.compile(
    r"stopped after s3://(?P<bucket>[^/]+)/(?P<key>\S+); "
    r"resume with --start-after '(?P<quoted>[^']+)' \(listed \d+, published (?P<published>\d+),"
)


@pytest.fixture
def task_queue(stack: Stack) -> Iterator[str]:
    """A task queue no worker reads."""
    name = stack.new_queue("s3meta-backfill")
    yield name
    client = stack.sqs()
    client.delete_queue(QueueUrl=client.get_queue_url(QueueName=name)["QueueUrl"])


@pytest.fixture
def environment(stack: Stack, task_queue: str) -> dict[str, str]:
    """The stack's settings with ``task_queue``, a wide terminal type, no rich overrides."""
    inherited = {name: value for name, value in os.environ.items() if name not in _RICH_OVERRIDES}
    return {
        **inherited,
        **stack.env,
        "S3META_TASK_QUEUE": task_queue,
        "COLUMNS": "200",
        "TERM": "xterm",
    }


def filled_bucket(stack: Stack, count: int) -> tuple[str, list[str]]:
    """A new bucket holding ``count`` small objects, and their keys in S3's order."""
    bucket = stack.new_bucket()
    keys = [f"object-{number:03}.txt" for number in range(count)]
    s3 = stack.s3()
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket, keys


def s3meta(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    assert S3META is not None, "the s3meta console script is not installed"
    return subprocess.run(
        [S3META, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def on_a_terminal(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run s3meta with its stderr on a new pseudo-terminal: its exit status, and what the
    terminal received with the escape sequences taken out."""
    assert S3META is not None, "the s3meta console script is not installed"
    leader, follower = os.openpty()
    try:
        process = subprocess.Popen(
            [S3META, *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
    finally:
        os.close(follower)
    screen = bytearray()
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process exited and its end of the terminal closed
                break
            if not chunk:
                break
            screen += chunk
        status = process.wait(timeout=10)
    finally:
        stop_process(process, timeout=10)
        os.close(leader)
    return status, _ANSI.sub("", screen.decode(errors="replace"))


def queued_keys(stack: Stack, queue: str) -> list[str]:
    """The key of every task on ``queue``, each message received once (and kept hidden)."""
    keys: list[str] = []
    tasks = Queue(stack.sqs(), queue)
    for _ in range(100):
        messages = tasks.receive(wait_seconds=1, visibility_timeout=600)
        if not messages:
            break
        for message in messages:
            # kombu's envelope holds the task's (args, kwargs, embed) as base64 JSON.
            envelope = decode_body(message.body)
            args = json.loads(base64.b64decode(envelope["body"]))[0]
            keys.append(args[1])
    return keys


@pytest.mark.mysql
def test_on_a_terminal_count_first_draws_a_bar_with_the_total_and_an_eta(
    stack: Stack, environment: dict[str, str], tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 30)

    status, screen = on_a_terminal(
        "backfill", "--count-first", f"s3://{bucket}", env=environment, cwd=tmp_path
    )

    assert status == 0, screen
    assert re.search(
        r"━+ 30/30 listed 30 published, 0 skipped \d+/s \d+:\d\d:\d\d ETA \d+:\d\d:\d\d", screen
    ), screen
    assert "Traceback" not in screen


@pytest.mark.mysql
def test_on_a_terminal_without_count_first_the_line_has_count_rate_and_elapsed_but_no_eta(
    stack: Stack, environment: dict[str, str], tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 30)

    status, screen = on_a_terminal("backfill", f"s3://{bucket}", env=environment, cwd=tmp_path)

    assert status == 0, screen
    assert re.search(r"30 listed 30 published, 0 skipped \d+/s \d+:\d\d:\d\d", screen), screen
    assert "ETA" not in screen
    assert "/30" not in screen


@pytest.mark.mysql
def test_on_a_terminal_json_still_shows_the_progress_on_stderr(
    stack: Stack, environment: dict[str, str], tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 30)

    status, screen = on_a_terminal(
        "backfill", f"s3://{bucket}", "--json", env=environment, cwd=tmp_path
    )

    assert status == 0, screen
    assert re.search(r"30 listed 30 published, 0 skipped \d+/s \d+:\d\d:\d\d", screen), screen


@pytest.mark.mysql
def test_without_a_terminal_a_paused_backfill_says_once_what_it_waits_for(
    stack: Stack, environment: dict[str, str], task_queue: str, tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 60)
    assert S3META is not None, "the s3meta console script is not installed"
    errors = tmp_path / "stderr"
    with errors.open("w") as stderr:
        backfill = subprocess.Popen(
            [S3META, "backfill", f"s3://{bucket}", "--max-queue-depth", "10"],
            cwd=tmp_path,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            wait_for(
                lambda: backfill.poll() is not None or "paused" in errors.read_text(),
                RUN_TIMEOUT,
                "backfill to say it is paused",
            )
        finally:
            stop_process(backfill, timeout=30)

    lines = [line for line in errors.read_text().splitlines() if "paused" in line]
    assert len(lines) == 1, errors.read_text()
    assert re.fullmatch(
        rf"s3meta: paused: task queue {task_queue} holds \d+ > 10 \(--max-queue-depth\);"
        " waiting for the workers",
        lines[0],
    ), lines[0]


@pytest.mark.mysql
def test_without_a_terminal_count_first_logs_listed_n_of_total_with_an_eta(
    stack: Stack, environment: dict[str, str], tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 30)

    result = s3meta(
        "backfill",
        f"s3://{bucket}",
        "--count-first",
        "--progress-every",
        "10",
        "--json",
        env=environment,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == 30
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"s3meta: counting the objects under s3://{bucket}/ first",
        "s3meta: 30 objects to list",
    ]
    progress = r"s3meta: listed {} of 30, published \d+, skipped 0 \(\d+/s, ETA \d+:\d\d:\d\d\)"
    assert len(lines) == 5, result.stderr
    for line, listed in zip(lines[2:], (10, 20, 30), strict=True):
        assert re.fullmatch(progress.format(listed), line), line


@pytest.mark.mysql
def test_without_a_terminal_or_count_first_log_lines_have_no_total_and_json_says_so(
    stack: Stack, environment: dict[str, str], tmp_path: Path
) -> None:
    bucket, _ = filled_bucket(stack, 30)

    result = s3meta(
        "backfill",
        f"s3://{bucket}",
        "--progress-every",
        "10",
        "--json",
        env=environment,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] is None
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    for line, listed in zip(lines, (10, 20, 30), strict=True):
        assert re.fullmatch(rf"s3meta: listed {listed}, published \d+, skipped 0 \(\d+/s\)", line)


@pytest.mark.mysql
def test_sigterm_stops_a_backfill_with_the_key_to_resume_after_and_no_key_is_lost_or_repeated(
    stack: Stack, environment: dict[str, str], task_queue: str, tmp_path: Path
) -> None:
    bucket, keys = filled_bucket(stack, 60)
    tasks = Queue(stack.sqs(), task_queue)
    assert S3META is not None, "the s3meta console script is not installed"
    # Nothing reads the queue: past 10 waiting tasks the backfill pauses, still running.
    first = subprocess.Popen(
        [S3META, "backfill", f"s3://{bucket}", "--max-queue-depth", "10"],
        cwd=tmp_path,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: first.poll() is not None or tasks.depth().visible > 10,
            RUN_TIMEOUT,
            "backfill to publish more than 10 tasks",
        )
        assert first.poll() is None, "backfill should be paused, not finished"
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=10)

    assert first.returncode == 143, stderr
    assert "Traceback" not in stderr
    stopped = _STOPPED.search(stderr)
    assert stopped is not None, stderr
    assert stopped["bucket"] == bucket
    assert stopped["quoted"] == stopped["key"]
    published = int(stopped["published"])
    assert stopped["key"] == keys[published - 1]

    second = s3meta(
        "backfill",
        f"s3://{bucket}",
        "--start-after",
        stopped["quoted"],
        "--max-queue-depth",
        "0",
        "--json",
        env=environment,
        cwd=tmp_path,
    )

    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["published"] == len(keys) - published
    queued = queued_keys(stack, task_queue)
    assert Counter(queued) == Counter(keys), "every key exactly once"


def test_help_says_why_there_is_no_eta_without_count_first(tmp_path: Path) -> None:
    result = s3meta("backfill", "--help", env=dict(os.environ), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "--count-first" in text
    assert "S3 keeps no object count" in text
    assert "--progress-every" not in text
