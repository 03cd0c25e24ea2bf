"""``s3meta.cli.errors``: s3meta's errors end a command with one line and exit status 1."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from s3meta.cli import main
from s3meta.cli.errors import one_line_errors
from s3meta.errors import ConfigError, QueueUnavailable


@click.command()
@click.option("--fail-with", type=click.Choice(["config", "queue", "usage", "none"]))
@one_line_errors()
def command(fail_with: str) -> None:
    """A command that fails as asked."""
    if fail_with == "config":
        raise ConfigError("no database at /nowhere.db")
    if fail_with == "queue":
        raise QueueUnavailable("SQS receive messages on 'q': throttled")
    if fail_with == "usage":
        raise click.UsageError("bad combination")
    click.echo("fine")


def test_an_s3meta_error_ends_the_command_with_one_line_and_status_one() -> None:
    result = CliRunner().invoke(command, ["--fail-with", "config"])

    assert result.exit_code == 1
    assert result.stderr == "Error: no database at /nowhere.db\n"
    assert isinstance(result.exception, SystemExit)


def test_every_kind_of_s3meta_error_is_reported_the_same_way() -> None:
    result = CliRunner().invoke(command, ["--fail-with", "queue"])

    assert result.exit_code == 1
    assert result.stderr == "Error: SQS receive messages on 'q': throttled\n"


def test_clicks_own_errors_pass_through_unchanged() -> None:
    result = CliRunner().invoke(command, ["--fail-with", "usage"])

    assert result.exit_code == 2
    assert "bad combination" in result.stderr


def test_a_decorated_command_keeps_its_name_help_and_result() -> None:
    result = CliRunner().invoke(command, ["--fail-with", "none"])

    assert result.exit_code == 0
    assert result.stdout == "fine\n"
    assert command.help == "A command that fails as asked."


@pytest.mark.usefixtures("isolated_environment")
def test_the_s3meta_group_reports_errors_of_commands_without_the_decorator(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "none.db"

    result = CliRunner().invoke(
        main, ["list", "--bucket", "abc"], env={"S3META_DATABASE_URL": f"sqlite:///{missing}"}
    )

    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: no database at {missing}")
    assert len(result.stderr.splitlines()) == 1
