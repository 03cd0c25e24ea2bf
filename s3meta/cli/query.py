"""``s3meta show`` (with ``--history``, the journal) and ``s3meta list``, as JSON or tables."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from itertools import islice

import click
from rich.console import Console

from db.engine import open_engine, session_factory
from db.models import JournalEntry, ObjectMetadata
from db.store import MetadataStore
from s3meta import composition
from s3meta.cli.params import bucket_name, s3_uri
from s3meta.config import get_settings
from s3meta.domain.terminal import printable
from s3meta.masking import mask_url
from s3meta.render import (
    iso_utc,
    journal_table,
    journal_to_json,
    row_table,
    row_to_json,
    rows_table,
)

# A table of more rows than this is no use to a person; --json has no cap.
TABLE_LIMIT = 1000
# Wide enough for any row (a key is at most 1024 characters); tables take only what they need.
_PIPED_WIDTH = 4096


@click.command("show")
@click.argument("uri", metavar="s3://BUCKET/KEY", callback=s3_uri)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object; with --history, one per journal entry, one per line.",
)
@click.option(
    "--history",
    is_flag=True,
    help="Also print the object's journal of applied changes, oldest first "
    "(with --json, only the journal).",
)
@click.pass_context
def show(ctx: click.Context, uri: tuple[str, str], as_json: bool, history: bool) -> None:
    """Show what the record holds for one object."""
    bucket, key = uri
    with _open_store() as (store, database_url):
        row = store.get(bucket, key)
        journal = store.history(bucket, key) if history else []
    if row is None and not journal:
        click.echo(
            f"s3meta: no record of {printable(f's3://{bucket}/{key}')} in {mask_url(database_url)}",
            err=True,
        )
        ctx.exit(1)
    if row is not None and row.never_seen and not journal:
        # As good as unknown: the row only says where nothing was found.
        click.echo(f"s3meta: {never_seen_line(row)}", err=True)
        ctx.exit(1)
    if history:
        _show_history(bucket, key, row, journal, as_json=as_json)
        return
    assert row is not None  # without --history the journal is empty, so the row is there
    if as_json:
        click.echo(json.dumps(row_to_json(row), ensure_ascii=False))
    else:
        stdout_console().print(row_table(row))


def _show_history(
    bucket: str,
    key: str,
    row: ObjectMetadata | None,
    journal: list[JournalEntry],
    *,
    as_json: bool,
) -> None:
    """JSON: the journal alone, a line per entry. Tables: the current row, then the journal."""
    if as_json:
        for entry in journal:
            click.echo(json.dumps(journal_to_json(entry), ensure_ascii=False))
        return
    console = stdout_console()
    if row is None:
        # The journal outlived the row (it was purged by hand): the journal is all there is.
        click.echo(f"s3meta: no current record of {printable(f's3://{bucket}/{key}')}", err=True)
    else:
        console.print(row_table(row))
    if not journal:
        # Rows written before the journal existed have none.
        click.echo(f"s3meta: no journal entries for {printable(f's3://{bucket}/{key}')}", err=True)
        return
    if row is not None:
        console.print()
    console.print(journal_table(journal))


@click.command("list")
@click.option(
    "--bucket",
    required=True,
    callback=bucket_name,
    help="The bucket to list.",
)
@click.option("--prefix", default="", help="Only keys that start with this (case-sensitive).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help=f"Print at most this many rows [default: all with --json, {TABLE_LIMIT} otherwise].",
)
@click.option(
    "--include-deleted/--live-only",
    default=True,
    show_default=True,
    help="Also list objects that were removed (marked deleted), or only live ones.",
)
@click.option(
    "--include-never-seen",
    is_flag=True,
    help="Also list keys never seen in S3: requeued or removed while HeadObject found no "
    "object, and no event showed one existed (a typo in a requeue, say).",
)
def list_objects(
    bucket: str,
    prefix: str,
    as_json: bool,
    limit: int | None,
    include_deleted: bool,
    include_never_seen: bool,
) -> None:
    """List the recorded objects of a bucket in key order."""
    with (
        _open_store() as (store, _url),
        closing(
            store.iter_bucket(
                bucket,
                prefix,
                live_only=not include_deleted,
                include_never_seen=include_never_seen,
            )
        ) as rows,
    ):
        if as_json:
            for row in islice(rows, limit):
                click.echo(json.dumps(row_to_json(row), ensure_ascii=False))
            return
        cap = limit or TABLE_LIMIT
        shown = list(islice(rows, cap))
        more = next(rows, None) is not None
    if not shown:
        click.echo("s3meta: no objects", err=True)
        return
    stdout_console().print(rows_table(shown))
    if more:
        click.echo(
            f"s3meta: showing the first {cap} rows; more exist (raise --limit or use --json)",
            err=True,
        )


def never_seen_line(row: ObjectMetadata) -> str:
    """Why a key never seen in S3 has a row at all, in one line."""
    looked = iso_utc(row.updated_at)
    why = f" after {row.event_name} at {iso_utc(row.event_time)}" if row.event_name else ""
    return (
        f"s3://{row.bucket}/{row.object_key} was never seen in S3: HeadObject found no object"
        f" (last looked {looked}{why})"
    )


def stdout_console() -> Console:
    """Rich on stdout; piped, as wide as the table needs, so that keys are not folded at 80."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPED_WIDTH
    return console


@contextmanager
def _open_store() -> Iterator[tuple[MetadataStore, str]]:
    """The store on the configured database, and that database's URL."""
    database_url = composition.database_url(get_settings())
    with open_engine(database_url) as engine:
        yield MetadataStore(session_factory(engine)), database_url
