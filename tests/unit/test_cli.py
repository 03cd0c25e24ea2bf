"""``s3meta.cli``: commands are imported when they run, so the light ones stay light."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from s3meta.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[2]
# The Celery and database stacks: a health check every few seconds must pay for neither.
HEAVY = ("celery", "kombu", "sqlalchemy", "pymysql", "alembic", "boto3", "tasks", "db")
# Runs the console script with the given arguments, then names the heavy packages imported.
_REPORT_IMPORTS = f"""
import sys
from s3meta.cli import main
try:
    main(sys.argv[1:])
finally:
    loaded = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
    print("imported:", " ".join(loaded), file=sys.stderr)
"""


def imported_by(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
    """Exit status, output and heavy packages of ``s3meta ARGS`` in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("S3META_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-c", _REPORT_IMPORTS, *args],
        cwd=ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    *_, report = done.stderr.strip().splitlines()
    assert report.startswith("imported:"), done.stderr
    return done.returncode, done.stdout, report.removeprefix("imported:").split()


def test_a_health_check_of_a_file_imports_neither_celery_nor_the_database(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    alive.touch()

    status, output, heavy = imported_by("health", "--file", str(alive))

    assert (status, output.strip()) == (0, "healthy")
    assert heavy == []


def test_a_health_check_of_s3meta_health_file_imports_neither(tmp_path: Path) -> None:
    alive = tmp_path / "alive"
    alive.touch()

    status, output, heavy = imported_by("health", env={"S3META_HEALTH_FILE": str(alive)})

    assert (status, output.strip()) == (0, "healthy")
    assert heavy == []


@pytest.mark.parametrize("args", [("health", "--help"), ("--version",)])
def test_help_and_version_import_neither(args: tuple[str, ...]) -> None:
    status, _, heavy = imported_by(*args)

    assert status == 0
    assert heavy == []


def test_every_listed_command_loads_and_is_named_as_it_is_listed() -> None:
    context = click.Context(main)

    for name in main.list_commands(context):
        command = main.get_command(context, name)
        assert isinstance(command, click.Command), name
        assert command.name == name


def test_the_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line}
    assert listed == set(COMMANDS)


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nonsense"])

    assert result.exit_code == 2
    assert "No such command 'nonsense'" in result.output
