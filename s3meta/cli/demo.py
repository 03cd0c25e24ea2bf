"""``s3meta demo``."""

from __future__ import annotations

import click

from s3meta.cli.query import stdout_console


@click.command()
@click.option(
    "--database-url",
    metavar="URL",
    help="The demo's database (SQLAlchemy URL). Default: sqlite:///s3meta.db here, which "
    "`s3meta show`/`list`/`stats` read with no settings; S3META_DATABASE_URL is not used.",
)
def demo(database_url: str | None) -> None:
    """Run the pipeline end to end on this machine (moto for AWS, SQLite) and show the rows."""
    from s3meta.demo import run_demo

    run_demo(stdout_console(), database_url)
