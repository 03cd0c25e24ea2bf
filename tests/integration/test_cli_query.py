from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner, Result

from db.store import MetadataStore
from s3meta.cli import main
from s3meta.config import get_settings
from s3meta.domain.objects import EventInfo, ObjectState
from tests.support.writes import mark_deleted, save_state

BUCKET = "bucket-a"
LAST_MODIFIED = datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
EVENT_TIME = datetime(2026, 11, 20, 10, 15, 31, 250000, tzinfo=UTC)


class RunCli(Protocol):
    def __call__(self, *args: str, database_url: str | None = None) -> Result: ...


@pytest.fixture
def cli(request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """Run ``s3meta`` against a database; settings are cached per process, so re-read each run."""
    runner = CliRunner()

    def run(*args: str, database_url: str | None = None) -> Result:
        url = database_url or str(request.getfixturevalue("database_url"))
        get_settings.cache_clear()
        try:
            return runner.invoke(main, list(args), env={"S3META_DATABASE_URL": url})
        finally:
            get_settings.cache_clear()

    yield run
    get_settings.cache_clear()


@pytest.fixture
def put(store: MetadataStore) -> Callable[..., ObjectState]:
    def save(key: str, *, bucket: str = BUCKET, **fields: Any) -> ObjectState:
        state = ObjectState(
            bucket=bucket,
            key=key,
            size=fields.pop("size", 1234),
            etag=fields.pop("etag", "9b2cf535f27731c974343645a3985328"),
            last_modified=fields.pop("last_modified", LAST_MODIFIED),
            content_type=fields.pop("content_type", "text/plain"),
            **fields,
        )
        event = EventInfo(
            event_name="ObjectCreated:Put", event_time=EVENT_TIME, sequencer="0055AED6DCD90281E5"
        )
        save_state(store, state, event, "task-1")
        return state

    return save


def listed_keys(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [json.loads(line)["key"] for line in result.stdout.splitlines()]


@pytest.mark.parametrize(
    "key",
    [
        "plain.txt",
        "dir/with space and+plus.txt",
        "100%25 literal/ünïcødé 日本.txt",
        "é" * 512,
    ],
    ids=["plain", "space-plus", "percent-unicode", "1024-bytes"],
)
def test_show_prints_one_json_object_with_the_spec_fields(
    cli: RunCli, put: Callable[..., ObjectState], key: str
) -> None:
    put(
        key,
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        storage_class="STANDARD_IA",
        user_metadata={"owner": "zoë", "note": "日本語"},
    )

    result = cli("show", f"s3://{BUCKET}/{key}", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    updated_at = document.pop("updated_at")
    created_at = document.pop("created_at")
    assert document == {
        "bucket": BUCKET,
        "key": key,
        "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        "size": 1234,
        "etag": "9b2cf535f27731c974343645a3985328",
        "content_type": "text/plain",
        "last_modified": "2026-11-20T10:15:30.000000Z",
        "storage_class": "STANDARD_IA",
        "metadata": {"owner": "zoë", "note": "日本語"},
        "deleted": False,
        "sequencer": "0055AED6DCD90281E5",
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-20T10:15:31.250000Z",
        "deleted_at": None,
        "deleted_by": None,
        "never_seen": False,
        "checksum_algorithm": None,
        "checksum_value": None,
        "server_side_encryption": None,
        "sse_kms_key_id": None,
        "object_lock_mode": None,
        "object_lock_retain_until": None,
        "object_lock_legal_hold": None,
        "restore_status": None,
        "parts_count": None,
        "tags": None,
        **dict.fromkeys(
            ("principal_id", "source_ip_address", "request_id", "host_id", "configuration_id")
        ),
        "content_encoding": None,
        "replication_status": None,
        "checksum_type": None,
        "bucket_key_enabled": None,
        "headers": {},
    }
    for moment in (updated_at, created_at):
        assert datetime.fromisoformat(moment).tzinfo == UTC
        assert moment.endswith("Z")


def test_show_prints_exactly_one_line_of_unescaped_json(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    put("k", user_metadata={"owner": "zoë"})

    result = cli("show", f"s3://{BUCKET}/k", "--json")

    assert result.stdout.count("\n") == 1
    assert "zoë" in result.stdout
    assert result.stderr == ""


def test_show_reports_a_deleted_object_as_deleted(
    cli: RunCli, put: Callable[..., ObjectState], store: MetadataStore
) -> None:
    put("gone.txt")
    mark_deleted(store, BUCKET, "gone.txt", EventInfo(event_name="ObjectRemoved:Delete"), "task-2")

    document = json.loads(cli("show", f"s3://{BUCKET}/gone.txt", "--json").stdout)

    assert document["deleted"] is True
    assert document["deleted_at"].endswith("Z")
    assert document["event_name"] == "ObjectRemoved:Delete"
    assert document["size"] == 1234


def test_show_without_json_prints_a_table_with_the_key(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    key = "dir/with space+[red]markup[/red].txt"
    put(key, user_metadata={"owner": "zoë"})

    result = cli("show", f"s3://{BUCKET}/{key}")

    assert result.exit_code == 0, result.output
    assert key in result.stdout
    assert "owner: zoë" in result.stdout
    assert "STANDARD" in result.stdout


def test_show_of_an_unknown_key_says_so_and_exits_1(
    cli: RunCli, put: Callable[..., ObjectState], database_url: str
) -> None:
    put("known.txt")

    result = cli("show", f"s3://{BUCKET}/Known.txt", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"s3meta: no record of s3://{BUCKET}/Known.txt in {database_url}\n"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bucket-a/key", "not an S3 URI"),
        ("s3://bucket-a", "no key"),
        ("s3://bucket-a/", "empty key"),
        ("s3://Bad_Bucket/key", "invalid bucket name"),
        (f"s3://bucket-a/{'k' * 1025}", "1025 bytes"),
    ],
)
def test_show_of_a_bad_uri_is_a_usage_error(
    cli: RunCli, sqlite_url: str, uri: str, message: str
) -> None:
    result = cli("show", uri, database_url=sqlite_url)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_list_prints_one_json_object_per_line_in_key_order(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    keys = ["b", "a/2", "A", "é", "a/10", "a", "Z", "a b", "日本", "a/1"]
    for key in keys:
        put(key)
    put("other-bucket-key", bucket="bucket-b")

    result = cli("list", "--bucket", BUCKET, "--json")

    # S3 lists keys in UTF-8 byte order, which for str is code point order.
    assert listed_keys(result) == sorted(keys)
    first = json.loads(result.stdout.splitlines()[0])
    assert {"bucket", "key", "size", "last_modified", "metadata", "deleted"} <= set(first)


def test_show_and_list_give_every_header_and_list_filters_by_replication_status(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    headers = {"Cache-Control": "no-cache", "x-amz-website-redirect-location": "/new"}
    put("failed.gz", replication_status="FAILED", content_encoding="gzip", headers=headers)
    put("done.txt", replication_status="COMPLETED", checksum_type="FULL_OBJECT")

    shown = json.loads(cli("show", f"s3://{BUCKET}/failed.gz", "--json").stdout)
    table = cli("show", f"s3://{BUCKET}/failed.gz").stdout
    failed = cli("list", "--bucket", BUCKET, "--json", "--replication-status", "failed")
    full = cli("list", "--bucket", BUCKET, "--json", "--checksum-type", "FULL_OBJECT")

    assert (shown["replication_status"], shown["content_encoding"]) == ("FAILED", "gzip")
    assert shown["headers"] == headers
    assert "Cache-Control: no-cache" in table
    assert listed_keys(failed) == ["failed.gz"]
    assert json.loads(failed.stdout)["headers"] == headers
    assert listed_keys(full) == ["done.txt"]


def test_list_filters_by_prefix(cli: RunCli, put: Callable[..., ObjectState]) -> None:
    for key in ["logs/2026/a", "logs/2026/b", "logs/2025/a", "logsx", "data/logs/a"]:
        put(key)

    result = cli("list", "--bucket", BUCKET, "--prefix", "logs/2026/", "--json")

    assert listed_keys(result) == ["logs/2026/a", "logs/2026/b"]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("50%", ["50%/x"]),
        ("a_", ["a_b"]),
        ("a\\", ["a\\b"]),
        ("a/", ["a/b"]),
        ("a", ["a/b", "a\\b", "a_b", "ab", "axb"]),
        ("A", ["Ab"]),
        ("é", ["éa"]),
        ("E", []),
    ],
)
def test_list_prefix_is_literal_and_case_sensitive(
    cli: RunCli, put: Callable[..., ObjectState], prefix: str, expected: list[str]
) -> None:
    for key in ["50%/x", "50x/y", "500", "a_b", "axb", "ab", "a\\b", "a/b", "Ab", "éa", "Éa"]:
        put(key)

    result = cli("list", "--bucket", BUCKET, "--prefix", prefix, "--json")

    assert listed_keys(result) == expected


def test_list_includes_deleted_objects_unless_live_only_and_never_seen_keys_if_asked(
    cli: RunCli, put: Callable[..., ObjectState], store: MetadataStore
) -> None:
    for key in ["a", "b", "c"]:
        put(key)
    mark_deleted(store, BUCKET, "b", EventInfo(event_name="ObjectRemoved:Delete"), "task-2")
    mark_deleted(store, BUCKET, "never-seen", EventInfo(), None)

    everything = cli("list", "--bucket", BUCKET, "--json")
    live = cli("list", "--bucket", BUCKET, "--json", "--live-only")
    with_never_seen = cli("list", "--bucket", BUCKET, "--json", "--include-never-seen")

    assert listed_keys(everything) == ["a", "b", "c"]
    assert [json.loads(line)["deleted"] for line in everything.stdout.splitlines()] == [
        False,
        True,
        False,
    ]
    assert listed_keys(live) == ["a", "c"]
    assert [
        (row["key"], row["never_seen"])
        for row in map(json.loads, with_never_seen.stdout.splitlines())
    ] == [("a", False), ("b", False), ("c", False), ("never-seen", True)]


def test_a_never_seen_key_is_shown_as_such_in_the_table(
    cli: RunCli, put: Callable[..., ObjectState], store: MetadataStore
) -> None:
    put("a")
    mark_deleted(store, BUCKET, "typo", EventInfo(), None)

    table = cli("list", "--bucket", BUCKET, "--include-never-seen")

    assert table.exit_code == 0, table.output
    (line,) = [line for line in table.stdout.splitlines() if "typo" in line]
    assert "never seen" in line


def test_list_limit_caps_json_output(cli: RunCli, put: Callable[..., ObjectState]) -> None:
    for key in ["a", "b", "c", "d"]:
        put(key)

    assert listed_keys(cli("list", "--bucket", BUCKET, "--json", "--limit", "2")) == ["a", "b"]


def test_list_limit_counts_only_rows_that_are_shown(
    cli: RunCli, put: Callable[..., ObjectState], store: MetadataStore
) -> None:
    for key in ["a", "b", "c"]:
        put(key)
    mark_deleted(store, BUCKET, "a", EventInfo(), None)

    result = cli("list", "--bucket", BUCKET, "--json", "--live-only", "--limit", "2")

    assert listed_keys(result) == ["b", "c"]


def test_list_of_nothing_prints_nothing_in_json_mode(cli: RunCli, database_url: str) -> None:
    result = cli("list", "--bucket", BUCKET, "--json")

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == ""


def test_list_of_nothing_says_so_on_stderr_in_table_mode(cli: RunCli, database_url: str) -> None:
    result = cli("list", "--bucket", BUCKET, "--prefix", "nothing/")

    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "s3meta: no objects\n"


def test_list_without_json_prints_a_table(
    cli: RunCli, put: Callable[..., ObjectState], store: MetadataStore
) -> None:
    put("dir/one file.txt", size=3 * 1024 * 1024)
    put("dir/two.txt")
    mark_deleted(store, BUCKET, "dir/two.txt", EventInfo(), None)

    result = cli("list", "--bucket", BUCKET)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["key", "size"]
    assert "dir/one file.txt" in lines[1]
    assert "3.0 MiB" in lines[1]
    assert "2026-11-20 10:15:30" in lines[1]
    assert "dir/two.txt" in lines[2]
    assert lines[2].split()[-2:] == ["deleted", "9b2cf535f27731c974343645a3985328"]
    assert result.stderr == ""


def test_list_table_says_when_more_rows_exist_than_it_shows(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    for key in ["a", "b", "c"]:
        put(key)

    result = cli("list", "--bucket", BUCKET, "--limit", "2")

    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == ["a", "b"]
    assert "showing the first 2 rows; more exist" in result.stderr


def test_list_table_says_nothing_more_when_the_limit_is_exactly_reached(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    for key in ["a", "b"]:
        put(key)

    result = cli("list", "--bucket", BUCKET, "--limit", "2")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--bucket", "Not_A_Bucket"],
        ["list", "--bucket", BUCKET, "--limit", "0"],
    ],
    ids=["no-bucket", "bad-bucket", "zero-limit"],
)
def test_list_with_bad_options_is_a_usage_error(
    cli: RunCli, sqlite_url: str, args: list[str]
) -> None:
    result = cli(*args, database_url=sqlite_url)

    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [["show", f"s3://{BUCKET}/key", "--json"], ["list", "--bucket", BUCKET, "--json"]],
    ids=["show", "list"],
)
@pytest.mark.parametrize(
    ("database_url", "message"),
    [
        ("mysql+pymysql://root:secret-pw@127.0.0.1:1/s3meta", "Error: database unavailable: "),
        ("sqlite:///{tmp}/no/such/directory/s3meta.db", "Error: no database at "),
        ("sqlite:///{tmp}/s3meta.db", "Error: no database at "),
    ],
    ids=["mysql-closed-port", "sqlite-missing-directory", "sqlite-missing-file"],
)
def test_an_unreachable_database_gives_a_one_line_error(
    cli: RunCli, tmp_path: Path, args: list[str], database_url: str, message: str
) -> None:
    result = cli(*args, database_url=database_url.format(tmp=tmp_path))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(message)
    assert "secret-pw" not in result.stderr
    assert not (tmp_path / "s3meta.db").exists()


@pytest.mark.parametrize(
    "args",
    [["show", f"s3://{BUCKET}/key", "--json"], ["list", "--bucket", BUCKET, "--json"]],
    ids=["show", "list"],
)
def test_an_unmigrated_database_says_to_run_the_migrations(
    cli: RunCli, tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "empty.db").touch()

    result = cli(*args, database_url=f"sqlite:///{tmp_path / 'empty.db'}")

    assert result.exit_code == 1
    assert "alembic upgrade head" in result.stderr


def test_piped_tables_keep_long_keys_on_one_line(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    key = "deep/" * 100 + "file.txt"
    put(key)

    listed = cli("list", "--bucket", BUCKET)
    shown = cli("show", f"s3://{BUCKET}/{key}")

    assert key in listed.stdout.splitlines()[1]
    assert any(key in line for line in shown.stdout.splitlines())


HOSTILE_KEY = "evil\x1b[31mred\x07\x9b2J[bold]x[/bold]\rover\nline\u202etxt.exe"
HOSTILE_SHOWN = "evil\\x1b[31mred\\x07\\x9b2J[bold]x[/bold]\\rover\\nline\\u202etxt.exe"


def assert_terminal_safe(text: str) -> None:
    """No control character but the line ends, no bidi override: nothing a terminal obeys."""
    unsafe = [char for char in text if (ord(char) < 32 and char != "\n") or char == "\x7f"]
    unsafe += [char for char in text if 0x80 <= ord(char) < 0xA0 or char == "\u202e"]
    assert unsafe == [], text


@pytest.mark.parametrize(
    "args",
    [
        ("show", f"s3://{BUCKET}/{HOSTILE_KEY}"),
        ("show", f"s3://{BUCKET}/{HOSTILE_KEY}", "--history"),
        ("list", "--bucket", BUCKET),
    ],
    ids=["show", "history", "list"],
)
def test_control_characters_and_markup_in_a_key_are_printed_escaped_and_literal(
    cli: RunCli, put: Callable[..., ObjectState], args: tuple[str, ...]
) -> None:
    put(HOSTILE_KEY, user_metadata={"note": "\x1b]0;pwned\x07"})

    result = cli(*args)

    assert result.exit_code == 0, result.output
    assert_terminal_safe(result.output)
    # Tables may fold a long key across lines: compare without the layout.
    flat = "".join(result.stdout.split())
    assert "".join(HOSTILE_SHOWN.split()) in flat
    if args[0] == "show" and "--history" not in args:
        assert "\\x1b]0;pwned\\x07" in flat


def test_json_output_keeps_a_hostile_key_exact(
    cli: RunCli, put: Callable[..., ObjectState]
) -> None:
    put(HOSTILE_KEY)

    shown = cli("show", f"s3://{BUCKET}/{HOSTILE_KEY}", "--json")
    listed = cli("list", "--bucket", BUCKET, "--json")

    assert json.loads(shown.stdout)["key"] == HOSTILE_KEY
    assert listed_keys(listed) == [HOSTILE_KEY]


def test_an_unknown_hostile_key_is_named_escaped_in_the_error(
    cli: RunCli, database_url: str
) -> None:
    result = cli("show", f"s3://{BUCKET}/{HOSTILE_KEY}")

    assert result.exit_code == 1
    assert_terminal_safe(result.output)
    assert HOSTILE_SHOWN in result.stderr
