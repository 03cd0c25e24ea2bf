"""Running s3meta's click commands in the test process."""

from __future__ import annotations

import json
from typing import Any

import click
from click.testing import CliRunner, Result

from s3meta.config import get_settings


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
