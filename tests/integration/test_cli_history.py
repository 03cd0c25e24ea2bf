"""``s3meta show --history``: an object's journal, oldest first, on SQLite and MariaDB.

The journal rows are written here directly: these tests are about reading and printing them,
not about which changes append them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from db.engine import create_engine
from db.models import JournalEntry
from db.store import MetadataStore
from s3meta.cli import main
from s3meta.config import get_settings
from s3meta.domain.objects import EventInfo, ObjectState
from tests.support.writes import save_state

BUCKET = "bucket-a"
LAST_MODIFIED = datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
EVENT_TIME = datetime(2026, 11, 20, 10, 15, 31, 250000, tzinfo=UTC)
APPLIED_AT = datetime(2026, 11, 20, 10, 15, 32, 500000, tzinfo=UTC)
ETAG = "9b2cf535f27731c974343645a3985328"

KEYS = [
    "plain.txt",
    "dir/with space and+plus.txt",
    "100%25 literal/ünïcødé 日本.txt",
    "trailing space ",
    "é" * 512,
]
KEY_IDS = ["plain", "space-plus", "percent-unicode", "trailing-space", "1024-bytes"]


class RunCli(Protocol):
    def __call__(self, *args: str) -> Result: ...


AddJournal = Callable[..., None]


@pytest.fixture
def cli(database_url: str) -> Iterator[RunCli]:
    """Run ``s3meta`` against the database; settings are cached per process, so re-read each run."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        get_settings.cache_clear()
        try:
            return runner.invoke(main, list(args), env={"S3META_DATABASE_URL": database_url})
        finally:
            get_settings.cache_clear()

    yield run
    get_settings.cache_clear()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def add_journal(engine: sa.Engine) -> AddJournal:
    """Append journal rows for a key, in the order given: each one applied a second later."""

    def add(key: str, *entries: dict[str, Any], bucket: str = BUCKET) -> None:
        with Session(engine) as session, session.begin():
            for number, fields in enumerate(entries):
                session.add(
                    JournalEntry(
                        bucket=bucket,
                        object_key=key,
                        applied_at=fields.pop("applied_at", APPLIED_AT + timedelta(seconds=number)),
                        **fields,
                    )
                )

    return add


@pytest.fixture
def put_row(store: MetadataStore, engine: sa.Engine) -> Callable[..., None]:
    """Save a current row for a key, as written before the journal existed: no journal rows."""

    def save(key: str, *, bucket: str = BUCKET) -> None:
        state = ObjectState(
            bucket=bucket,
            key=key,
            size=1234,
            etag=ETAG,
            last_modified=LAST_MODIFIED,
            content_type="text/plain",
        )
        event = EventInfo(
            event_name="ObjectCreated:Put", event_time=EVENT_TIME, sequencer="0055AED6DCD90281E5"
        )
        save_state(store, state, event, "task-id")
        # Whatever journal rows saving appended are not this test's: start the key afresh.
        with Session(engine) as session, session.begin():
            session.execute(
                sa.delete(JournalEntry).where(
                    JournalEntry.bucket == bucket, JournalEntry.object_key == key
                )
            )

    return save


def create(**fields: Any) -> dict[str, Any]:
    return {
        "record_type": "CREATE",
        "version_id": "v1",
        "etag": ETAG,
        "size": 1234,
        "sequencer": "0055AED6DCD90281E5",
        "event_name": "ObjectCreated:Put",
        "event_time": EVENT_TIME,
        "task_id": "task-1",
    } | fields


def update(**fields: Any) -> dict[str, Any]:
    return (
        create(
            record_type="UPDATE_METADATA",
            version_id="v2",
            etag="0123456789abcdef0123456789abcdef",
            size=3 * 1024 * 1024,
            sequencer="0055AED6DCD90281E6",
            event_time=EVENT_TIME + timedelta(minutes=1),
            task_id="task-2",
        )
        | fields
    )


def delete(**fields: Any) -> dict[str, Any]:
    return {
        "record_type": "DELETE",
        "version_id": "v3-marker",
        "sequencer": "0055AED6DCD90281E7",
        "event_name": "ObjectRemoved:DeleteMarkerCreated",
        "event_time": EVENT_TIME + timedelta(minutes=2),
        "task_id": "task-3",
    } | fields


def journal_lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


# These changes' events carry no requester, source IP, request ids or configuration.
NO_WHO = dict.fromkeys(
    ("principal_id", "source_ip_address", "request_id", "host_id", "configuration_id")
)


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_history_json_prints_the_journal_oldest_first_with_its_fields(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal, key: str
) -> None:
    put_row(key)
    add_journal(key, create(), update(), delete())

    result = cli("show", f"s3://{BUCKET}/{key}", "--history", "--json")

    assert result.stderr == ""
    assert journal_lines(result) == [
        {
            "bucket": BUCKET,
            "key": key,
            "record_type": "CREATE",
            "version_id": "v1",
            "etag": ETAG,
            "size": 1234,
            "sequencer": "0055AED6DCD90281E5",
            "event_name": "ObjectCreated:Put",
            "event_time": "2026-11-20T10:15:31.250000Z",
            "applied_at": "2026-11-20T10:15:32.500000Z",
            "task_id": "task-1",
            **NO_WHO,
        },
        {
            "bucket": BUCKET,
            "key": key,
            "record_type": "UPDATE_METADATA",
            "version_id": "v2",
            "etag": "0123456789abcdef0123456789abcdef",
            "size": 3 * 1024 * 1024,
            "sequencer": "0055AED6DCD90281E6",
            "event_name": "ObjectCreated:Put",
            "event_time": "2026-11-20T10:16:31.250000Z",
            "applied_at": "2026-11-20T10:15:33.500000Z",
            "task_id": "task-2",
            **NO_WHO,
        },
        {
            "bucket": BUCKET,
            "key": key,
            "record_type": "DELETE",
            "version_id": "v3-marker",
            "etag": None,
            "size": None,
            "sequencer": "0055AED6DCD90281E7",
            "event_name": "ObjectRemoved:DeleteMarkerCreated",
            "event_time": "2026-11-20T10:17:31.250000Z",
            "applied_at": "2026-11-20T10:15:34.500000Z",
            "task_id": "task-3",
            **NO_WHO,
        },
    ]


def test_history_json_is_unescaped_and_nulls_what_is_unknown(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal
) -> None:
    key = "zoë/日本.txt"
    put_row(key)
    # A manual requeue: no event, no sequencer; an unversioned bucket: no version id.
    add_journal(
        key,
        create(version_id=None, sequencer=None, event_name=None, event_time=None, task_id=None),
    )

    result = cli("show", f"s3://{BUCKET}/{key}", "--history", "--json")

    assert result.stdout.count("\n") == 1
    assert key in result.stdout
    [entry] = journal_lines(result)
    assert entry["record_type"] == "CREATE"
    for field in ("version_id", "sequencer", "event_name", "event_time", "task_id"):
        assert entry[field] is None


def test_history_is_in_the_order_changes_were_applied(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal
) -> None:
    put_row("k")
    add_journal("k", create(task_id="first"))
    add_journal("k", delete(task_id="second"))
    add_journal("k", create(task_id="third", version_id="v4"))

    entries = journal_lines(cli("show", f"s3://{BUCKET}/k", "--history", "--json"))

    assert [(e["task_id"], e["record_type"]) for e in entries] == [
        ("first", "CREATE"),
        ("second", "DELETE"),
        ("third", "CREATE"),
    ]


def test_history_shows_only_the_exact_key_and_bucket(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal
) -> None:
    put_row("k")
    add_journal("k", create(task_id="mine"))
    # Keys that a case-insensitive, space-padding or prefix match would confuse with "k".
    for other in ["K", "k ", "k/", "kk"]:
        add_journal(other, create(task_id=f"other key {other!r}"))
    add_journal("k", create(task_id="other bucket"), bucket="bucket-b")

    entries = journal_lines(cli("show", f"s3://{BUCKET}/k", "--history", "--json"))

    assert [e["task_id"] for e in entries] == ["mine"]


def test_history_table_prints_the_row_then_the_journal(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal
) -> None:
    key = "dir/with space+[red]markup[/red] ünï.txt"
    put_row(key)
    add_journal(key, create(), update(), delete(task_id="task-[bold]3[/bold]"))

    result = cli("show", f"s3://{BUCKET}/{key}", "--history")

    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    history = lines.index("History")
    # The current row first, as plain `show` prints it, then a blank line.
    assert lines[0].split() == ["bucket", BUCKET]
    assert any(key in line for line in lines[:history])
    assert any("text/plain" in line for line in lines[:history])
    assert lines[history - 1] == ""
    header, *entries = lines[history + 1 :]
    assert header.split()[:4] == ["applied", "at", "record", "type"]
    assert [line.split()[1] for line in entries] == ["CREATE", "UPDATE_METADATA", "DELETE"]
    assert entries[0].split()[0] == "2026-11-20T10:15:32.500000Z"
    assert "ObjectCreated:Put" in entries[0]
    assert "v1" in entries[0].split()
    assert "1.2 KiB" in entries[0]
    assert "3.0 MiB" in entries[1]
    assert "ObjectRemoved:DeleteMarkerCreated" in entries[2]
    assert entries[2].split()[-1] == "task-[bold]3[/bold]"


def test_show_without_history_is_unchanged_by_a_journal(
    cli: RunCli, put_row: Callable[..., None], add_journal: AddJournal
) -> None:
    put_row("k")
    add_journal("k", create(), delete())

    as_json = cli("show", f"s3://{BUCKET}/k", "--json")
    as_table = cli("show", f"s3://{BUCKET}/k")

    assert as_json.exit_code == 0, as_json.output
    assert as_json.stdout.count("\n") == 1
    assert "record_type" not in json.loads(as_json.stdout)
    assert as_table.exit_code == 0, as_table.output
    assert "History" not in as_table.stdout
    assert "DELETE" not in as_table.stdout


@pytest.mark.parametrize("mode", [["--json"], []], ids=["json", "table"])
def test_history_of_an_unknown_key_says_so_and_exits_1(
    cli: RunCli,
    put_row: Callable[..., None],
    add_journal: AddJournal,
    database_url: str,
    mode: list[str],
) -> None:
    put_row("known.txt")
    add_journal("known.txt", create())

    result = cli("show", f"s3://{BUCKET}/Known.txt", "--history", *mode)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"s3meta: no record of s3://{BUCKET}/Known.txt in {database_url}\n"


@pytest.mark.parametrize("key", KEYS, ids=KEY_IDS)
def test_history_of_a_row_without_journal_says_so_in_table_mode(
    cli: RunCli, put_row: Callable[..., None], key: str
) -> None:
    put_row(key)

    result = cli("show", f"s3://{BUCKET}/{key}", "--history")

    assert result.exit_code == 0, result.output
    assert key in result.stdout
    assert "History" not in result.stdout
    assert result.stderr == f"s3meta: no journal entries for s3://{BUCKET}/{key}\n"


def test_history_of_a_row_without_journal_prints_nothing_in_json_mode(
    cli: RunCli, put_row: Callable[..., None]
) -> None:
    put_row("old.txt")

    result = cli("show", f"s3://{BUCKET}/old.txt", "--history", "--json")

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == ""


@pytest.mark.parametrize("mode", [["--json"], []], ids=["json", "table"])
def test_history_of_a_key_whose_row_is_gone_still_prints_the_journal(
    cli: RunCli, add_journal: AddJournal, mode: list[str]
) -> None:
    add_journal("purged.txt", create(), delete())

    result = cli("show", f"s3://{BUCKET}/purged.txt", "--history", *mode)

    assert result.exit_code == 0, result.output
    if mode:
        assert [e["record_type"] for e in journal_lines(result)] == ["CREATE", "DELETE"]
        assert result.stderr == ""
    else:
        assert result.stdout.splitlines()[0].rstrip() == "History"
        assert "CREATE" in result.stdout
        assert "DELETE" in result.stdout
        assert result.stderr == f"s3meta: no current record of s3://{BUCKET}/purged.txt\n"
