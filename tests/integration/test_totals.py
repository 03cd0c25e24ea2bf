"""Prefix totals on SQLite and MariaDB: kept by ``MetadataStore``, read by du, repaired by
``reconcile --totals``."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import Result

from db.engine import writer_engine
from db.store import MetadataStore
from db.totals import TotalsReader, repair
from s3meta.cli import main
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.totals import Total, TotalKey, TotalsRule
from s3meta.domain.transitions import Change
from tests.support.cli import invoke
from tests.support.totals import counted_from_rows, stored_totals

BUCKET = "bucket-t"
START = datetime(2026, 12, 1, tzinfo=UTC)
RULE = TotalsRule(depth=2, shards=4)
KEYS = ["top", "a/1", "a/2", "a/b/1", "a/b/c/1", "a_%/1", "z/", "\u00e9t\u00e9/1"]
CLASSES = ["STANDARD", "GLACIER"]


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = writer_engine(database_url)
    yield made
    made.dispose()


def put(store: MetadataStore, key: str, size: int, at: int, kind: str = "STANDARD") -> None:
    when = START + timedelta(seconds=at)
    state = ObjectState(BUCKET, key, size, f"etag-{size}", when, storage_class=kind)
    event = EventInfo("ObjectCreated:Put", when, f"{at:08X}")
    store.apply(Change(BUCKET, key, state, event, when))


def remove(store: MetadataStore, key: str, at: int) -> None:
    when = START + timedelta(seconds=at)
    event = EventInfo("ObjectRemoved:Delete", when, f"{at:08X}")
    store.apply(Change(BUCKET, key, None, event, when))


def stored(engine: sa.Engine) -> dict[TotalKey, Total]:
    return stored_totals(engine, BUCKET)


def counted(engine: sa.Engine) -> dict[TotalKey, Total]:
    return counted_from_rows(engine, BUCKET, RULE)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_puts_overwrites_and_deletes_leave_the_totals_equal_to_a_recount(
    engine: sa.Engine, seed: int
) -> None:
    chance = random.Random(seed)
    store = MetadataStore(engine, totals=RULE)
    for _ in range(60):
        key = chance.choice(KEYS)
        if chance.random() < 0.3:
            remove(store, key, chance.randrange(60))
        else:
            put(store, key, chance.randrange(1000), chance.randrange(60), chance.choice(CLASSES))
    assert stored(engine) == counted(engine)
    assert counted(engine)  # something is live, or nothing was tested
    assert repair(engine, BUCKET, RULE) == []


def test_a_recount_repairs_damaged_totals_and_then_finds_nothing_to_repair(
    engine: sa.Engine,
) -> None:
    store = MetadataStore(engine, totals=RULE)
    for n, key in enumerate(KEYS):
        put(store, key, 10 + n, n)
    expected = stored(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE prefix_totals SET object_count = object_count + 7"))
        connection.execute(sa.text("DELETE FROM prefix_totals WHERE depth = 1"))
        connection.execute(
            sa.text("INSERT INTO prefix_totals VALUES (:b, :p, 'STANDARD', 3, 1, 5, 500)"),
            {"b": BUCKET, "p": b"nowhere/" if engine.dialect.name != "sqlite" else "nowhere/"},
        )
    assert stored(engine) != expected
    repairs = repair(engine, BUCKET, RULE)
    assert {fixed.key.prefix for fixed in repairs} >= {"", "a/", "nowhere/"}
    assert stored(engine) == expected == counted(engine)
    assert repair(engine, BUCKET, RULE) == []
    with engine.connect() as connection:
        left = connection.execute(
            sa.text("SELECT COUNT(*) FROM prefix_totals WHERE object_count = 0 AND byte_count = 0")
        ).scalar_one()
    assert left == 0  # totals of nothing are removed


def test_du_reads_a_prefix_and_the_levels_below_it_in_key_order(engine: sa.Engine) -> None:
    store = MetadataStore(engine, totals=RULE)
    put(store, "a/1", 100, 1)
    put(store, "a/b/1", 20, 2, "GLACIER")
    put(store, "a/b/c/1", 3, 3)
    put(store, "a_%/1", 4000, 4)
    put(store, "ab/1", 9, 5)
    remove(store, "ab/1", 6)
    reader = TotalsReader(engine, RULE)
    found = reader.usage(BUCKET, "a/", 5)
    assert [(u.prefix, u.depth, u.total) for u in found] == [
        ("a/", 1, Total(3, 123)),
        ("a/b/", 2, Total(2, 23)),
    ]
    assert found[1].by_class == {"GLACIER": Total(1, 20), "STANDARD": Total(1, 3)}
    # The prefix matches literally: "_" and "%" are no wildcards; emptied prefixes are left out.
    assert [u.prefix for u in reader.usage(BUCKET, "", 1)] == ["", "a/", "a_%/"]
    assert [u.prefix for u in reader.usage(BUCKET, "a_%/", 0)] == ["a_%/"]


def du(database_url: str, *args: str) -> Result:
    return invoke(main, "du", *args, S3META_DATABASE_URL=database_url, S3META_TOTALS_DEPTH="2")


def test_du_prints_one_line_per_prefix_with_its_objects_and_size(
    engine: sa.Engine, database_url: str
) -> None:
    store = MetadataStore(engine, totals=RULE)
    put(store, "logs/2026/a", 2048, 1)
    put(store, "logs/2026/b", 1024, 2, "GLACIER")
    put(store, "logs/x", 1, 3)
    result = du(database_url, f"s3://{BUCKET}/logs/", "--depth", "1")
    assert result.exit_code == 0, result.output
    classes = "(GLACIER 1 / 1.0 KiB, STANDARD {} / 2.0 KiB)"
    assert result.stdout.splitlines() == [
        f"           3     3.0 KiB  s3://{BUCKET}/logs/  {classes.format(2)}",
        f"           2     3.0 KiB  s3://{BUCKET}/logs/2026/  {classes.format(1)}",
    ]


def test_du_json_gives_every_storage_class_in_bytes(engine: sa.Engine, database_url: str) -> None:
    store = MetadataStore(engine, totals=RULE)
    put(store, "logs/a", 5, 1)
    result = du(database_url, f"s3://{BUCKET}", "--json", "--depth", "0")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {
            "bucket": BUCKET,
            "prefix": "",
            "depth": 0,
            "objects": 1,
            "bytes": 5,
            "storage_classes": {"STANDARD": {"objects": 1, "bytes": 5}},
        }
    ]


def test_du_of_a_prefix_holding_nothing_shows_zero(database_url: str) -> None:
    result = du(database_url, f"s3://{BUCKET}/empty/", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["objects"] == 0


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (f"s3://{BUCKET}/logs", "s3meta du: a prefix with totals ends in '/': 'logs/'\n"),
        (f"s3://{BUCKET}/a/b/c/", "s3meta du: totals are kept 2 levels deep; 'a/b/c/' is 3\n"),
        ("s3://Bad_Bucket/", "s3meta du: "),
    ],
)
def test_du_refuses_a_prefix_without_totals_in_one_line(
    database_url: str, uri: str, message: str
) -> None:
    result = du(database_url, uri)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_reconcile_totals_repairs_and_reports_each_total_it_set_right(
    engine: sa.Engine, database_url: str
) -> None:
    store = MetadataStore(engine, totals=RULE)
    put(store, "a/1", 10, 1)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE prefix_totals SET byte_count = 99 WHERE depth = 0"))
    env = {"S3META_DATABASE_URL": database_url, "S3META_TOTALS_DEPTH": "2"}
    args = ("reconcile", f"s3://{BUCKET}", "--totals", "--check")
    first = invoke(main, *args, **env)
    assert first.exit_code == 3, first.output
    assert first.stdout.splitlines() == [
        f"repaired  s3://{BUCKET}/  STANDARD: objects 1 -> 1, bytes 99 -> 10",
        f"s3meta: s3://{BUCKET}: totals recounted; repaired 1 total",
    ]
    again = invoke(main, *args, "--json", **env)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"type": "summary", "bucket": BUCKET, "repaired": 0}


def test_reconcile_totals_takes_a_whole_bucket_only(database_url: str) -> None:
    result = invoke(
        main, "reconcile", f"s3://{BUCKET}/a/", "--totals", S3META_DATABASE_URL=database_url
    )
    assert result.exit_code == 2
    assert (
        result.stderr == f"s3meta reconcile: --totals recounts a whole bucket: give s3://{BUCKET}\n"
    )
