"""The ``s3meta`` console script.

Each command's module is imported only when that command runs (or help lists it), so that
``s3meta health`` and the other light commands import neither Celery nor the database.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from s3meta import __version__
from s3meta.cli.errors import one_line_errors

# Command name -> "module:attribute" of its click command.
COMMANDS = {
    "backfill": "s3meta.cli.backfill:backfill",
    "bridge": "s3meta.cli.bridge:bridge",
    "broker-cleanup": "s3meta.cli.broker:broker_cleanup",
    "dead-letters": "s3meta.cli.dead_letters:dead_letters",
    "demo": "s3meta.cli.demo:demo",
    "doctor": "s3meta.cli.doctor:doctor",
    "export": "s3meta.cli.export:export_objects",
    "du": "s3meta.cli.du:du",
    "health": "s3meta.cli.health:health",
    "list": "s3meta.cli.query:list_objects",
    "reconcile": "s3meta.cli.reconcile:reconcile",
    "relay": "s3meta.cli.relay:relay",
    "requeue": "s3meta.cli.requeue:requeue",
    "serve": "s3meta.cli.serve:serve",
    "setup": "s3meta.cli.setup:setup",
    "show": "s3meta.cli.query:show",
    "stats": "s3meta.cli.stats:stats",
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use (click's documented lazy loading).

    Also turns s3meta's own errors into one clear line and exit status 1, never a traceback.
    """

    def __init__(
        self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy_commands[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="s3meta")
def main() -> None:
    """s3meta: a queryable record of everything stored in S3."""
