"""The ``s3meta`` console script."""

from __future__ import annotations

from typing import Any

import click

from s3meta import __version__
from s3meta.cli.errors import one_line_errors


class _Group(click.Group):
    """Turns s3meta's own errors into one clear line and exit status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_errors():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="s3meta")
def main() -> None:
    """s3meta: a queryable record of everything stored in S3."""


def _register() -> None:
    from s3meta.cli import (
        backfill,
        bridge,
        broker,
        dead_letters,
        demo,
        doctor,
        health,
        query,
        reconcile,
        requeue,
        setup,
        stats,
    )

    main.add_command(backfill.backfill)
    main.add_command(bridge.bridge)
    main.add_command(broker.broker_cleanup)
    main.add_command(dead_letters.dead_letters)
    main.add_command(demo.demo)
    main.add_command(doctor.doctor)
    main.add_command(health.health)
    main.add_command(requeue.requeue)
    main.add_command(stats.stats)
    main.add_command(reconcile.reconcile)
    main.add_command(setup.setup)
    main.add_command(query.show)
    main.add_command(query.list_objects)


_register()
