"""``s3meta export``'s columns (read off ``list --json``'s serializer) and the export itself,
on SQLite: row groups, key order, nulls in CSV, an unindexed bucket.

The round trip through the command, on MariaDB too, is tests/integration/test_export_cli.py.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.exports import Column, Format, Kind, columns_of, format_of_name
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectFilter, ObjectRecord
from s3meta.domain.times import iso_utc
from s3meta.operations.export import BucketNotIndexed, ExportJob, ExportUnavailable, export
from s3meta.render import row_to_json
from tests.support.exports import read_back
from tests.support.writes import save_state

BUCKET = "bucket-a"
MODIFIED = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
UPLOAD = EventInfo(event_name="ObjectCreated:Put", event_time=MODIFIED, sequencer="00A1")


def put(store: MetadataStore, key: str, **fields: Any) -> None:
    fields.setdefault("size", 1)
    state = ObjectState(bucket=BUCKET, key=key, etag="e", last_modified=MODIFIED, **fields)
    save_state(store, state, UPLOAD, f"task-{key}")


def run(
    reader: ObjectReader, path: Path, file_format: Format, prefix: str = "", **options: Any
) -> int:
    serialize = options.pop("serialize", row_to_json)
    chunk_rows = options.pop("chunk_rows", 4096)
    job = ExportJob(ObjectFilter(BUCKET, prefix), file_format, **options)
    with path.open("wb") as sink:
        return export(reader, job, sink, serialize, chunk_rows=chunk_rows)


def test_the_columns_are_those_of_list_json_in_its_order() -> None:
    record = ObjectRecord(BUCKET, "k", MODIFIED, MODIFIED)

    assert [column.name for column in columns_of(row_to_json)] == list(row_to_json(record))


def test_each_column_has_the_kind_of_its_serialized_value() -> None:
    kinds = {column.name: column.kind for column in columns_of(row_to_json)}

    assert kinds["key"] is Kind.TEXT
    assert kinds["size"] is Kind.INTEGER
    assert kinds["parts_count"] is Kind.INTEGER
    assert kinds["deleted"] is Kind.BOOLEAN
    assert kinds["never_seen"] is Kind.BOOLEAN
    for name in ("last_modified", "updated_at", "created_at", "object_lock_retain_until"):
        assert kinds[name] is Kind.TIMESTAMP, name
    assert kinds["metadata"] is Kind.MAP
    assert kinds["tags"] is Kind.MAP


def test_a_column_added_to_the_serializer_is_exported_with_its_type(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path
) -> None:
    def wider(record: ObjectRecord) -> dict[str, Any]:
        return {**row_to_json(record), "seen_at": iso_utc(record.updated_at), "parts": 3}

    put(store, "a")

    run(reader, tmp_path / "rows.parquet", Format.PARQUET, serialize=wider)

    schema = pq.read_schema(tmp_path / "rows.parquet")
    assert schema.field("seen_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("parts").type == pa.int64()
    assert Column("seen_at", Kind.TIMESTAMP) in columns_of(wider)


def test_a_column_no_kind_fits_is_refused_by_name() -> None:
    def with_ratio(record: ObjectRecord) -> dict[str, Any]:
        return {**row_to_json(record), "ratio": 0.5}

    with pytest.raises(TypeError, match="'ratio'"):
        columns_of(with_ratio)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rows.parquet", Format.PARQUET),
        ("s3://b/x/ROWS.CSV", Format.CSV),
        ("rows.jsonl", Format.JSONL),
        ("rows.ndjson", Format.JSONL),
        ("rows.json", None),
        ("rows", None),
    ],
)
def test_the_format_follows_the_output_suffix(name: str, expected: Format | None) -> None:
    assert format_of_name(name) is expected


def test_parquet_row_groups_have_the_set_size_across_chunks(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path
) -> None:
    for index in range(25):
        put(store, f"k{index:02}")

    written = run(
        reader, tmp_path / "rows.parquet", Format.PARQUET, row_group_size=10, chunk_rows=3
    )

    metadata = pq.ParquetFile(tmp_path / "rows.parquet").metadata
    assert written == 25
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [10, 10, 5]


@pytest.mark.parametrize("file_format", list(Format))
def test_an_export_holds_the_prefix_rows_in_key_order_as_list_json_has_them(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path, file_format: Format
) -> None:
    for key in ("logs/b", "data/z", "logs/a", "logs/ü", "logsx"):
        put(store, key, user_metadata={"owner": "zoë"}, tags={})
    path = tmp_path / f"rows.{file_format}"

    run(reader, path, file_format, prefix="logs/", chunk_rows=2)

    listed = reader.iter_objects(ObjectFilter(BUCKET, "logs/"))
    expected = [row_to_json(record) for record in listed]
    assert [row["key"] for row in expected] == ["logs/a", "logs/b", "logs/ü"]
    assert read_back(path, file_format) == expected


def test_csv_keeps_empty_text_and_null_apart(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path
) -> None:
    put(store, "a", content_type="")

    run(reader, tmp_path / "rows.csv", Format.CSV)

    (row,) = read_back(tmp_path / "rows.csv", Format.CSV)
    assert row["content_type"] == ""
    assert row["version_id"] is None
    assert '"a",,1,' in (tmp_path / "rows.csv").read_text(encoding="utf-8")


def test_json_lines_are_the_lines_list_json_prints(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path
) -> None:
    put(store, "日本/ファイル", user_metadata={"note": 'a "quoted"\nline'})

    run(reader, tmp_path / "rows.jsonl", Format.JSONL)

    (record,) = reader.iter_objects(ObjectFilter(BUCKET))
    line = json.dumps(row_to_json(record), ensure_ascii=False) + "\n"
    assert (tmp_path / "rows.jsonl").read_text(encoding="utf-8") == line


def test_an_empty_prefix_gives_a_parquet_file_with_every_column_and_no_row(
    store: MetadataStore, reader: ObjectReader, tmp_path: Path
) -> None:
    put(store, "a")

    written = run(reader, tmp_path / "rows.parquet", Format.PARQUET, prefix="none/")

    table = pq.read_table(tmp_path / "rows.parquet")
    assert written == 0
    assert table.num_rows == 0
    assert table.column_names == [column.name for column in columns_of(row_to_json)]


@pytest.mark.parametrize("file_format", list(Format))
def test_a_bucket_the_index_has_no_row_of_is_refused_before_anything_is_written(
    store: MetadataStore, reader: ObjectReader, file_format: Format
) -> None:
    put(store, "a")
    sink = io.BytesIO()
    job = ExportJob(ObjectFilter("bucket-b"), file_format)

    with pytest.raises(BucketNotIndexed, match="'bucket-b' is not indexed"):
        export(reader, job, sink, row_to_json)

    assert sink.getvalue() == b""


@pytest.mark.parametrize("file_format", [Format.PARQUET, Format.CSV])
def test_without_pyarrow_parquet_and_csv_say_what_to_install(
    store: MetadataStore,
    reader: ObjectReader,
    monkeypatch: pytest.MonkeyPatch,
    file_format: Format,
) -> None:
    put(store, "a")
    # None in sys.modules makes the import fail, as it does where pyarrow is not installed.
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    sink = io.BytesIO()

    with pytest.raises(ExportUnavailable, match=r"needs pyarrow.*pip install 's3meta\[export\]'"):
        export(reader, ExportJob(ObjectFilter(BUCKET), file_format), sink, row_to_json)

    assert sink.getvalue() == b""
