"""``s3meta export`` through the command, on SQLite and MariaDB: each format read back equals
``s3meta list --json``; DuckDB queries the Parquet file; S3 output through moto's server;
one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import duckdb
import pytest
from click.testing import CliRunner, Result

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.aws.upload import PART_SIZE, streaming_upload
from s3meta.cli import main
from s3meta.config import get_settings
from s3meta.domain.exports import Format
from s3meta.domain.objects import EventInfo, ObjectState
from tests.support.exports import read_back
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV
from tests.support.writes import mark_deleted, save_state

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BUCKET = "bucket-a"
MODIFIED = datetime(2026, 11, 20, 10, 15, 30, 250000, tzinfo=UTC)
# Keys an export must carry through unchanged: CSV's quote and separator, line breaks,
# non-ASCII text, the longest key S3 allows (1024 bytes of UTF-8), LIKE's wildcards.
AWKWARD_KEYS = (
    "plain.txt",
    'a,"quoted",key.csv',
    "line\nbreak\tand tab",
    "100%_literal/ünïcødé 日本.txt",
    "é" * 512,
    "emoji/🙂.bin",
)


def run(database_url: str, *args: str, **env: str) -> Result:
    get_settings.cache_clear()
    try:
        env = {"S3META_DATABASE_URL": database_url, **env}
        return CliRunner().invoke(main, list(args), env=env)
    finally:
        get_settings.cache_clear()


def put(store: MetadataStore, key: str, index: int, bucket: str = BUCKET) -> None:
    state = ObjectState(
        bucket=bucket,
        key=key,
        size=1000 + index * 997,
        etag=f"etag-{index}",
        last_modified=MODIFIED,
        content_type="" if index % 3 == 0 else "text/plain",
        version_id=f"v{index}" if index % 2 else None,
        storage_class=("STANDARD", "GLACIER", "STANDARD_IA")[index % 3],
        user_metadata={"owner": "zoë", "note": f'"{index}",\n日本'},
        tags={"team": "data", "ü": "ß"} if index % 2 else ({} if index % 3 else None),
        parts_count=index or None,
    )
    event = EventInfo("ObjectCreated:Put", MODIFIED, f"00A{index:02}")
    save_state(store, state, event, f"task-{index}")


@pytest.fixture
def indexed(store: MetadataStore) -> MetadataStore:
    """The awkward keys in BUCKET, the first of them deleted, and one key in another bucket."""
    for index, key in enumerate(AWKWARD_KEYS):
        put(store, key, index)
    mark_deleted(store, BUCKET, AWKWARD_KEYS[0], EventInfo("ObjectRemoved:Delete", MODIFIED, "00B"))
    put(store, "elsewhere", 0, bucket="bucket-b")
    return store


def listed(database_url: str, *args: str) -> list[dict[str, Any]]:
    result = run(database_url, "list", "--bucket", BUCKET, "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def analyst() -> duckdb.DuckDBPyConnection:
    """DuckDB in memory, showing times in UTC whatever the machine's zone."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


@pytest.mark.parametrize("file_format", list(Format))
def test_an_export_read_back_equals_list_json(
    indexed: MetadataStore, database_url: str, tmp_path: Path, file_format: Format
) -> None:
    path = tmp_path / f"rows.{file_format}"

    result = run(database_url, "export", f"s3://{BUCKET}", "--output", str(path))

    assert result.exit_code == 0, result.output
    assert f"exported {len(AWKWARD_KEYS)} rows as {file_format}" in result.stderr
    assert read_back(path, file_format) == listed(database_url)


@pytest.mark.parametrize("file_format", list(Format))
def test_a_live_only_export_of_a_prefix_equals_list_json_of_it(
    indexed: MetadataStore, database_url: str, tmp_path: Path, file_format: Format
) -> None:
    path = tmp_path / "rows.out"

    result = run(
        database_url,
        "export",
        f"s3://{BUCKET}/100%_",
        "--format",
        str(file_format),
        "--live-only",
        "-o",
        str(path),
    )

    assert result.exit_code == 0, result.output
    expected = listed(database_url, "--prefix", "100%_", "--live-only")
    assert [row["key"] for row in expected] == [AWKWARD_KEYS[3]]
    assert read_back(path, file_format) == expected


def test_duckdb_sums_the_parquet_sizes_by_storage_class_as_the_index_does(
    indexed: MetadataStore, database_url: str, reader: ObjectReader, tmp_path: Path
) -> None:
    path = tmp_path / "rows.parquet"
    assert run(database_url, "export", f"s3://{BUCKET}", "-o", str(path)).exit_code == 0

    rows = (
        analyst()
        .execute(
            "SELECT storage_class, count(*), sum(size) FROM read_parquet(?) "
            "WHERE NOT deleted GROUP BY storage_class ORDER BY storage_class",
            [str(path)],
        )
        .fetchall()
    )

    shares = sorted(reader.breakdown("storage_class", BUCKET), key=lambda share: share.value or "")
    assert rows == [(share.value, share.objects, share.bytes) for share in shares]


def test_duckdb_reads_the_parquet_types_as_utc_times_int64_sizes_and_maps(
    indexed: MetadataStore, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "rows.parquet"
    assert run(database_url, "export", f"s3://{BUCKET}", "-o", str(path)).exit_code == 0

    con = analyst()
    types = con.execute(
        "SELECT typeof(last_modified), typeof(size), typeof(metadata), typeof(tags) "
        "FROM read_parquet(?) LIMIT 1",
        [str(path)],
    ).fetchone()
    found = con.execute(
        "SELECT key, strftime(last_modified, '%Y-%m-%dT%H:%M:%S.%fZ'), metadata['owner'], "
        "tags['ü'] FROM read_parquet(?) WHERE tags['team'] = 'data' ORDER BY key",
        [str(path)],
    ).fetchall()

    assert types == (
        "TIMESTAMP WITH TIME ZONE",
        "BIGINT",
        "MAP(VARCHAR, VARCHAR)",
        "MAP(VARCHAR, VARCHAR)",
    )
    odd = sorted(key for index, key in enumerate(AWKWARD_KEYS) if index % 2)
    assert found == [(key, "2026-11-20T10:15:30.250000Z", "zoë", "ß") for key in odd]


def test_an_export_to_stdout_is_what_list_json_prints(
    indexed: MetadataStore, database_url: str
) -> None:
    result = run(database_url, "export", f"s3://{BUCKET}", "--format", "jsonl", "-o", "-")

    assert result.exit_code == 0, result.output
    expected = run(database_url, "list", "--bucket", BUCKET, "--json")
    assert result.stdout == expected.stdout


def written(folder: Path) -> list[str]:
    """The files in ``folder`` but the SQLite database's."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith("s3meta-"))


def one_line_error(result: Result) -> str:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("s3://bucket-a", "--format", "xml", "-o", "{dir}/x"), "'xml' is not one of"),
        (("s3://bucket-a", "-o", "{dir}/rows.txt"), "cannot tell the format of {dir}/rows.txt"),
        (("bucket-a", "-o", "{dir}/rows.csv"), "not an S3 URI: 'bucket-a'"),
        (("s3://Bad_Bucket", "-o", "{dir}/rows.csv"), "invalid bucket name 'Bad_Bucket'"),
        (("s3://bucket-a", "-o", "s3://bucket-b"), "no key in 's3://bucket-b'"),
        (("s3://bucket-a", "--row-group-size", "0", "-o", "{dir}/x.parquet"), "0 is not in"),
    ],
    ids=["format", "no-format", "uri", "bucket", "output-uri", "row-group"],
)
def test_a_bad_argument_is_one_line_and_writes_nothing(
    indexed: MetadataStore, database_url: str, tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    result = run(database_url, "export", *(arg.format(dir=tmp_path) for arg in args))

    assert said.format(dir=tmp_path) in one_line_error(result)
    assert written(tmp_path) == []


def test_an_unwritable_path_is_one_line(
    indexed: MetadataStore, database_url: str, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("kept")

    under_a_file = run(database_url, "export", f"s3://{BUCKET}", "-o", f"{not_a_folder}/x.csv")
    a_folder = run(database_url, "export", f"s3://{BUCKET}", "--format", "csv", "-o", str(tmp_path))

    assert one_line_error(under_a_file).endswith("/file/x.csv: Not a directory")
    assert one_line_error(a_folder).endswith(f"{tmp_path}: it is a directory")
    assert not_a_folder.read_text() == "kept"


def test_a_bucket_not_indexed_is_one_line_and_leaves_an_earlier_file_as_it_was(
    indexed: MetadataStore, database_url: str, tmp_path: Path
) -> None:
    earlier = tmp_path / "rows.parquet"
    earlier.write_bytes(b"an earlier export")

    result = run(database_url, "export", "s3://bucket-c", "-o", str(earlier))

    assert one_line_error(result) == (
        "Error: bucket 'bucket-c' is not indexed: the index has no row of it"
    )
    assert earlier.read_bytes() == b"an earlier export"
    assert written(tmp_path) == ["rows.parquet"]


@pytest.fixture
def s3(moto_server: MotoServer) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    return client


@pytest.fixture
def target(s3: S3Client) -> Iterator[str]:
    """A new bucket on moto's server for the exports, emptied and removed afterwards."""
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("file_format", list(Format))
def test_an_export_to_s3_read_back_equals_list_json(
    indexed: MetadataStore,
    database_url: str,
    moto_server: MotoServer,
    s3: S3Client,
    target: str,
    tmp_path: Path,
    file_format: Format,
) -> None:
    key = f"exports/ü/rows.{file_format}"
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_server.url}

    result = run(database_url, "export", f"s3://{BUCKET}", "-o", f"s3://{target}/{key}", **env)

    assert result.exit_code == 0, result.output
    downloaded = tmp_path / f"rows.{file_format}"
    s3.download_file(target, key, str(downloaded))
    assert read_back(downloaded, file_format) == listed(database_url)


def test_an_export_to_a_missing_bucket_is_one_line(
    indexed: MetadataStore, database_url: str, moto_server: MotoServer
) -> None:
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_server.url}
    missing = f"missing-{uuid.uuid4().hex[:12]}"

    result = run(database_url, "export", f"s3://{BUCKET}", "-o", f"s3://{missing}/r.csv", **env)

    assert one_line_error(result) == f"Error: s3://{missing}: no such bucket"


# Past one part, so that the upload is a multipart one; written in pieces smaller than a part.
_STREAM = bytes(range(256)) * (PART_SIZE * 2 // 256 + 1000)
_PIECE = 64 * 1024


def test_a_streamed_upload_of_several_parts_arrives_whole(s3: S3Client, target: str) -> None:
    with streaming_upload(s3, target, "big.bin") as sink:
        for start in range(0, len(_STREAM), _PIECE):
            sink.write(_STREAM[start : start + _PIECE])

    head = s3.head_object(Bucket=target, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3")
    assert s3.get_object(Bucket=target, Key="big.bin")["Body"].read() == _STREAM


def test_a_streamed_upload_the_writer_gives_up_on_leaves_nothing(s3: S3Client, target: str) -> None:
    class Stopped(Exception):
        pass

    def give_up_past_the_first_part() -> None:
        with streaming_upload(s3, target, "big.bin") as sink:
            for start in range(0, len(_STREAM) * 3 // 4, _PIECE):
                sink.write(_STREAM[start : start + _PIECE])
            raise Stopped

    with pytest.raises(Stopped):
        give_up_past_the_first_part()

    assert s3.list_objects_v2(Bucket=target).get("KeyCount") == 0
    assert s3.list_multipart_uploads(Bucket=target).get("Uploads", []) == []
