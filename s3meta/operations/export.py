"""``s3meta export``: a bucket's (or a prefix's) rows, streamed in key order to Parquet, CSV
or JSON Lines, in as little memory at a million rows as at a thousand.

The rows come from the reader a page at a time (keyset pagination: no cursor held open) and
leave a chunk at a time; only Parquet keeps more, one row group, as Arrow columns. The values
are ``list --json``'s (its serializer is handed in), typed by ``domain.exports.columns_of``:
Parquet has UTC timestamps, int64 sizes and maps; CSV has ``list --json``'s text for times
and JSON text for maps, a null as an empty unquoted field and text always quoted, so that
``""`` and null stay apart. pyarrow (the ``export`` extra) writes Parquet and CSV; it is
imported only for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import IO, TYPE_CHECKING, Any, Protocol

from s3meta.domain.exports import Column, Format, Kind, Serializer, columns_of
from s3meta.domain.records import ObjectFilter, ObjectRecord
from s3meta.errors import S3MetaError

if TYPE_CHECKING:
    import pyarrow as pa

    from db.reader import ObjectReader

# Rows per Parquet row group unless told: large enough for column statistics to skip
# groups, small enough that the group in hand stays tens of MiB.
ROW_GROUP_SIZE = 100_000
# Rows read per query, and rows turned into Arrow columns (or lines) at a time.
READ_PAGE = 2000
CHUNK_ROWS = 4096
_INSTALL_HINT = "pip install 's3meta[export]'"


class BucketNotIndexed(S3MetaError):
    """The index holds no row of the bucket at all."""


class ExportUnavailable(S3MetaError):
    """The format needs a library that is not installed."""


@dataclass(frozen=True, slots=True)
class ExportJob:
    """What to export, and how."""

    where: ObjectFilter
    format: Format
    row_group_size: int = ROW_GROUP_SIZE


class _Encoder(Protocol):
    def write(self, rows: Sequence[Mapping[str, Any]]) -> None: ...
    def close(self) -> None: ...


def check_indexed(reader: ObjectReader, bucket: str) -> None:
    """Raise ``BucketNotIndexed`` unless the index has a row of ``bucket``, of any kind."""
    anything = ObjectFilter(bucket, include_deleted=True, include_never_seen=True)
    if not reader.page(anything, limit=1).records:
        raise BucketNotIndexed(f"bucket {bucket!r} is not indexed: the index has no row of it")


def export(
    reader: ObjectReader,
    job: ExportJob,
    sink: IO[bytes],
    serialize: Serializer,
    progress: Callable[[int], None] = lambda _rows: None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Write the rows ``job.where`` holds to ``sink`` in key order; the number written.

    ``progress`` hears the running count after each chunk of ``chunk_rows``. Nothing is
    written to ``sink`` before the bucket is known to be indexed and the format's library
    importable.
    """
    if job.row_group_size < 1:
        raise ValueError("row_group_size must be positive")
    assert job.where.bucket is not None
    check_indexed(reader, job.where.bucket)
    encoder = _encoder(job, columns_of(serialize), sink)
    written = 0
    for chunk in _chunks(reader.iter_objects(job.where, page_size=READ_PAGE), chunk_rows):
        encoder.write([serialize(record) for record in chunk])
        written += len(chunk)
        progress(written)
    encoder.close()
    return written


def _chunks(records: Iterable[ObjectRecord], size: int) -> Iterator[list[ObjectRecord]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _encoder(job: ExportJob, columns: Sequence[Column], sink: IO[bytes]) -> _Encoder:
    if job.format is Format.JSONL:
        return _JsonLines(sink)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ExportUnavailable(
            f"--format {job.format} needs pyarrow, which is not installed: {_INSTALL_HINT}"
        ) from None
    if job.format is Format.PARQUET:
        return _Parquet(columns, sink, job.row_group_size)
    return _Csv(columns, sink)


class _JsonLines:
    """A line per row, as ``list --json`` prints it."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        text = "".join(_json(row) + "\n" for row in rows)
        self._sink.write(text.encode("utf-8"))

    def close(self) -> None:
        self._sink.flush()


def parquet_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Parquet file's schema: a field per column, every one nullable."""
    import pyarrow as pa

    types = {
        Kind.TEXT: pa.string(),
        Kind.INTEGER: pa.int64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        Kind.MAP: pa.map_(pa.string(), pa.string()),
    }
    return pa.schema([pa.field(column.name, types[column.kind]) for column in columns])


def csv_schema(columns: Sequence[Column]) -> pa.Schema:
    """The CSV file's columns: times as ``list --json``'s text, maps as JSON text."""
    import pyarrow as pa

    types = {
        Kind.TEXT: pa.string(),
        Kind.INTEGER: pa.int64(),
        Kind.BOOLEAN: pa.bool_(),
        Kind.TIMESTAMP: pa.string(),
        Kind.MAP: pa.string(),
    }
    return pa.schema([pa.field(column.name, types[column.kind]) for column in columns])


def _batch(
    columns: Sequence[Column], schema: pa.Schema, rows: Sequence[Mapping[str, Any]]
) -> pa.RecordBatch:
    """``rows`` as Arrow columns of ``schema``."""
    import pyarrow as pa

    arrays: list[pa.Array[Any]] = []
    for column, field in zip(columns, schema, strict=True):
        values = [row[column.name] for row in rows]
        if column.kind is Kind.TIMESTAMP and pa.types.is_timestamp(field.type):
            # The serializer's ISO text, parsed by Arrow a column at a time.
            arrays.append(pa.array(values, pa.string()).cast(field.type))
        elif column.kind is Kind.MAP and pa.types.is_string(field.type):
            text = [None if each is None else _json(each) for each in values]
            arrays.append(pa.array(text, pa.string()))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Parquet:
    """Row groups of ``row_group_size`` rows (the last one short), zstd-compressed."""

    def __init__(self, columns: Sequence[Column], sink: IO[bytes], row_group_size: int) -> None:
        import pyarrow.parquet as pq

        self._columns = columns
        self._schema = parquet_schema(columns)
        self._writer = pq.ParquetWriter(sink, self._schema, compression="zstd")
        self._group_size = row_group_size
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._pending.append(_batch(self._columns, self._schema, rows))
        self._pending_rows += len(rows)
        while self._pending_rows >= self._group_size:
            self._write_group()

    def close(self) -> None:
        while self._pending_rows:
            self._write_group()
        self._writer.close()

    def _write_group(self) -> None:
        import pyarrow as pa

        table = pa.Table.from_batches(self._pending, schema=self._schema)
        group = table.slice(0, self._group_size)
        # Each write_table call ends its row groups: one call per group keeps them full.
        self._writer.write_table(group, row_group_size=self._group_size)
        rest = table.slice(self._group_size)
        self._pending = rest.combine_chunks().to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows


class _Csv:
    """A header line, then a line per row, written a chunk at a time."""

    def __init__(self, columns: Sequence[Column], sink: IO[bytes]) -> None:
        import pyarrow.csv as pcsv

        self._columns = columns
        self._schema = csv_schema(columns)
        self._writer = pcsv.CSVWriter(sink, self._schema)

    def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self._writer.write_batch(_batch(self._columns, self._schema, rows))

    def close(self) -> None:
        self._writer.close()
