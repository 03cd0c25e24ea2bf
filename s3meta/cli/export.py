"""``s3meta export s3://B[/PREFIX] --output PATH|s3://…``: the rows ``list --json`` prints,
as one Parquet, CSV or JSON Lines file, written where it goes as it is read."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from db.reader import open_reader
from s3meta import composition
from s3meta.aws.clients import s3_client
from s3meta.aws.s3 import check_bucket
from s3meta.aws.upload import streaming_upload
from s3meta.cli.errors import one_line_errors
from s3meta.cli.params import s3_prefix_uri, which_rows_options
from s3meta.config import get_settings
from s3meta.domain.exports import Format, format_of_name
from s3meta.domain.records import ObjectFilter
from s3meta.domain.terminal import printable
from s3meta.domain.uris import SCHEME, parse_s3_uri
from s3meta.errors import S3MetaError
from s3meta.operations.export import ROW_GROUP_SIZE, ExportJob, export
from s3meta.render import human_size, row_to_json

STDOUT = "-"


class OutputError(S3MetaError):
    """The export's file cannot be written."""


@click.command("export")
@click.argument("uri", metavar="s3://BUCKET[/PREFIX]", callback=s3_prefix_uri)
@click.option(
    "--output",
    "-o",
    required=True,
    callback=lambda _ctx, _param, value: _output(value),
    metavar="PATH|s3://BUCKET/KEY|-",
    help="Where the file goes: a local path (written beside it, then renamed, so that it "
    "appears whole or not at all), an S3 object (a streaming multipart upload), or - for "
    "stdout.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice([str(each) for each in Format]),
    default=None,
    help="The file format [default: the output's suffix: .parquet, .csv, .jsonl or .ndjson].",
)
@click.option(
    "--row-group-size",
    type=click.IntRange(min=1),
    default=ROW_GROUP_SIZE,
    show_default=True,
    help="Rows per Parquet row group; memory holds one group.",
)
@which_rows_options("export")
@one_line_errors()
def export_objects(
    uri: tuple[str, str],
    output: str,
    file_format: str | None,
    row_group_size: int,
    include_deleted: bool,
    include_never_seen: bool,
) -> None:
    """Export the recorded objects under s3://BUCKET[/PREFIX], in key order.

    The columns are those of `s3meta list --json`, typed: in Parquet, UTC timestamps, int64
    sizes, and maps for metadata and tags; in CSV, the times as `list --json` prints them,
    metadata and tags as JSON, and null as an empty unquoted field. Memory stays flat
    however many rows there are. Progress goes to stderr on a terminal; a line there says
    how many rows were written.
    """
    bucket, prefix = uri
    chosen = _format(file_format, output)
    where = ObjectFilter(
        bucket, prefix, include_deleted=include_deleted, include_never_seen=include_never_seen
    )
    job = ExportJob(where, chosen, row_group_size)
    database_url = composition.read_database_url(get_settings())
    with _destination(output) as sink, open_reader(database_url) as reader, _progress() as progress:
        rows = export(reader, job, sink, row_to_json, progress)
        size = sink.tell() if sink.seekable() else None
    where_to = "stdout" if output == STDOUT else printable(output)
    written = f" ({human_size(size)})" if size is not None else ""
    click.echo(f"s3meta: exported {rows} rows as {chosen} to {where_to}{written}", err=True)


def _output(value: str) -> str:
    """``value``, if it is a path, ``-`` or an ``s3://BUCKET/KEY``; else a usage error."""
    if _is_s3(value):
        try:
            parse_s3_uri(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _is_s3(output: str) -> bool:
    return output[: len(SCHEME)].lower() == SCHEME


def _format(chosen: str | None, output: str) -> Format:
    if chosen is not None:
        return Format(chosen)
    by_name = format_of_name(output) if output != STDOUT else None
    if by_name is None:
        raise click.UsageError(
            f"cannot tell the format of {printable(output)}: give --format parquet, csv or "
            "jsonl, or an output named *.parquet, *.csv, *.jsonl or *.ndjson"
        )
    return by_name


@contextmanager
def _destination(output: str) -> Iterator[IO[bytes]]:
    """The stream for ``output``: stdout, an S3 upload, or a local file made whole on success."""
    if output == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if _is_s3(output):
        bucket, key = parse_s3_uri(output)
        client = s3_client(get_settings())
        # Before the rows are read: a missing bucket is said at once, not after the export.
        check_bucket(client, bucket)
        with streaming_upload(client, bucket, key) as sink:
            yield sink
        return
    with _local_file(Path(output)) as sink:
        yield sink


@contextmanager
def _local_file(path: Path) -> Iterator[IO[bytes]]:
    """A new file beside ``path``, renamed to it if the block ends without error and removed
    otherwise: an earlier file at ``path`` stays until the new one is whole."""
    if path.is_dir():
        raise OutputError(f"cannot write {printable(str(path))}: it is a directory")
    # Not tempfile's: its files are private (0600) whatever the umask; an export is not.
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        handle = partial.open("xb")
    except OSError as exc:
        raise OutputError(f"cannot write {printable(str(path))}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        partial.replace(path)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise OutputError(f"cannot write {printable(str(path))}: {exc.strerror}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def _progress() -> Iterator[Callable[[int], None]]:
    """What to call with the running count: a live line on stderr if it is a terminal."""
    console = Console(stderr=True)
    if not console.is_interactive:
        yield lambda _rows: None
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.completed} rows exported"),
        TextColumn("{task.fields[rate]:.0f}/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("export", total=None, rate=0.0)

        def update(rows: int) -> None:
            elapsed = progress.tasks[task].elapsed or 0.0
            progress.update(task, completed=rows, rate=rows / max(elapsed, 1e-6))

        yield update
