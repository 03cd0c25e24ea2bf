"""``s3meta show`` (with ``--history``, the journal) and ``s3meta list``, as JSON or tables."""

from __future__ import annotations

import json
import os

import click
from rich.console import Console

from db.reader import open_reader
from s3meta import composition
from s3meta.cli.params import bucket_name, s3_uri, which_rows_options
from s3meta.config import get_settings
from s3meta.domain.objects import CHECKSUM_TYPES, REPLICATION_STATUSES
from s3meta.domain.records import ObjectFilter, VersionRecord
from s3meta.domain.terminal import printable
from s3meta.masking import mask_url
from s3meta.operations import query
from s3meta.render import (
    journal_table,
    journal_to_json,
    row_table,
    row_to_json,
    rows_table,
    version_to_json,
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
@click.option(
    "--versions",
    is_flag=True,
    help="Print every version of the object (versioned buckets), newest first, as JSON "
    "lines: the fields of the record, is_delete_marker and is_latest.",
)
@click.pass_context
def show(
    ctx: click.Context, uri: tuple[str, str], as_json: bool, history: bool, versions: bool
) -> None:
    """Show what the record holds for one object."""
    bucket, key = uri
    database_url = composition.read_database_url(get_settings())
    if versions:
        with open_reader(database_url) as reader:
            found = reader.versions(bucket, key)
        if not found:
            click.echo(f"s3meta: no versions of {printable(f's3://{bucket}/{key}')}", err=True)
            ctx.exit(1)
        _print_versions(found)
        return
    try:
        with open_reader(database_url) as reader:
            shown = query.show(reader, bucket, key, history=history)
    except query.NeverSeen as exc:
        click.echo(f"s3meta: {printable(str(exc))}", err=True)
        ctx.exit(1)
    except query.NotRecorded as exc:
        click.echo(f"s3meta: {printable(str(exc))} in {mask_url(database_url)}", err=True)
        ctx.exit(1)
    if history:
        _show_history(shown, as_json=as_json)
        return
    assert shown.record is not None  # without --history the journal is empty, so the row is there
    if as_json:
        click.echo(json.dumps(row_to_json(shown.record), ensure_ascii=False))
    else:
        stdout_console().print(row_table(shown.record))


def _print_versions(versions: list[VersionRecord]) -> None:
    for number, version in enumerate(versions):
        click.echo(json.dumps(version_to_json(version, latest=number == 0), ensure_ascii=False))


def _show_history(shown: query.Shown, *, as_json: bool) -> None:
    """JSON: the journal alone, a line per entry. Tables: the current row, then the journal."""
    if as_json:
        for entry in shown.journal:
            click.echo(json.dumps(journal_to_json(entry), ensure_ascii=False))
        return
    console = stdout_console()
    if shown.record is None:
        click.echo(f"s3meta: no current record of {printable(shown.uri)}", err=True)
    else:
        console.print(row_table(shown.record))
    if not shown.journal:
        # Rows written before the journal existed have none.
        click.echo(f"s3meta: no journal entries for {printable(shown.uri)}", err=True)
        return
    if shown.record is not None:
        console.print()
    console.print(journal_table(shown.journal))


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
@which_rows_options("list")
@click.option(
    "--replication-status",
    type=click.Choice(REPLICATION_STATUSES, case_sensitive=False),
    default=None,
    help="Only objects HeadObject reported in this replication status (FAILED: to retry).",
)
@click.option(
    "--checksum-type",
    type=click.Choice(CHECKSUM_TYPES, case_sensitive=False),
    default=None,
    help="Only objects whose checksum is of this type.",
)
@click.option(
    "--all-versions",
    is_flag=True,
    help="Print every version of each key (versioned buckets), newest first, as JSON lines "
    "(as show --versions); keys with no version recorded print their row.",
)
def list_objects(
    bucket: str,
    prefix: str,
    as_json: bool,
    limit: int | None,
    include_deleted: bool,
    include_never_seen: bool,
    replication_status: str | None,
    checksum_type: str | None,
    all_versions: bool,
) -> None:
    """List the recorded objects of a bucket in key order."""
    where = ObjectFilter(
        bucket,
        prefix,
        include_deleted=include_deleted,
        include_never_seen=include_never_seen,
        replication_status=replication_status.upper() if replication_status else None,
        checksum_type=checksum_type.upper() if checksum_type else None,
    )
    with open_reader(composition.read_database_url(get_settings())) as reader:
        if all_versions:
            for record in query.list_objects(reader, where, limit=limit):
                versions = reader.versions(record.bucket, record.object_key)
                if versions:
                    _print_versions(versions)
                else:
                    click.echo(json.dumps(row_to_json(record), ensure_ascii=False))
            return
        if as_json:
            for record in query.list_objects(reader, where, limit=limit):
                click.echo(json.dumps(row_to_json(record), ensure_ascii=False))
            return
        cap = limit or TABLE_LIMIT
        page = query.first_page(reader, where, limit=cap)
    if not page.records:
        click.echo("s3meta: no objects", err=True)
        return
    stdout_console().print(rows_table(page.records))
    if page.next_after is not None:
        click.echo(
            f"s3meta: showing the first {cap} rows; more exist (raise --limit or use --json)",
            err=True,
        )


def stdout_console() -> Console:
    """Rich on stdout; piped, as wide as the table needs, so that keys are not folded at 80."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPED_WIDTH
    return console
