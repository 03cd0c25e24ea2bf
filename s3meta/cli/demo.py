"""``s3meta demo``."""

from __future__ import annotations

import click

from s3meta.cli.query import stdout_console


@click.command()
def demo() -> None:
    """Run the pipeline end to end on this machine (moto for AWS, SQLite) and show the rows."""
    from s3meta.demo import run_demo

    run_demo(stdout_console())
