"""Running s3meta's click commands in the test process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from s3meta.config import get_settings

ROOT = Path(__file__).resolve().parents[2]


def invoke(command: click.Command, *args: str, **env: str) -> Result:
    """``command ARGS`` with ``env`` on top of this process's, its settings read afresh."""
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(command, list(args), env=env)
    finally:
        get_settings.cache_clear()


def json_report(result: Result) -> dict[str, Any]:
    """The one JSON object a successful ``--json`` run printed."""
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def run_console(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``s3meta ARGS`` as an operator runs it, in its own process from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "s3meta.cli", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
