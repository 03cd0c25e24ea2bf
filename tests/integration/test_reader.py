"""``ObjectReader`` on SQLite and MariaDB: listings in S3's byte order, literal prefixes, pages.

MariaDB stores keys as VARBINARY and buckets as ascii_bin: its order and matching must be
S3's, page after page, as SQLite's are (tests/unit/test_reader.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from db.engine import writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectFilter, Position
from tests.support.writes import save_state

MODIFIED = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
NO_EVENT = EventInfo()


def state(key: str, size: int = 1, bucket: str = "bucket-a") -> ObjectState:
    return ObjectState(
        bucket=bucket, key=key, size=size, etag=f"etag-{size}", last_modified=MODIFIED
    )


def listed(reader: ObjectReader, bucket: str = "bucket-a", prefix: str = "") -> list[str]:
    return [record.object_key for record in reader.iter_objects(ObjectFilter(bucket, prefix))]


def test_a_prefix_is_matched_literally(store: MetadataStore, reader: ObjectReader) -> None:
    for key in ["50%_off/a", "50x_off/b", "50%_offer"]:
        save_state(store, state(key), NO_EVENT, "t")

    assert listed(reader, prefix="50%_off/") == ["50%_off/a"]


def test_rows_are_listed_in_s3_key_order_byte_by_byte(
    store: MetadataStore, reader: ObjectReader
) -> None:
    keys = ["a", "a ", "a\t", "B", "b", "é", "z"]
    for key in keys:
        save_state(store, state(key), NO_EVENT, "t")

    assert listed(reader) == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_rows_read_before_stopping_a_listing_early_stay_readable(
    store: MetadataStore, reader: ObjectReader
) -> None:
    for key in ["k1", "k2", "k3"]:
        save_state(store, state(key), NO_EVENT, "t")

    rows = reader.iter_objects(ObjectFilter("bucket-a"), page_size=1)
    first = next(rows)
    rows.close()

    assert (first.object_key, first.size) == ("k1", 1)


# Keys whose order differs between bytes, a case-insensitive collation and PAD SPACE.
AWKWARD = ["a", "a ", "a\t", "a  b", "A", "B", "b", "é", "É", "日本", "\U0001f600", "z"]


@pytest.fixture
def mysql_store_and_reader(mysql_url: str) -> Iterator[tuple[MetadataStore, ObjectReader]]:
    engine = writer_engine(mysql_url)
    yield MetadataStore(engine), ObjectReader(engine)
    engine.dispose()


@pytest.mark.mysql
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_mysql_pages_follow_s3_byte_order_across_page_boundaries_and_buckets(
    mysql_store_and_reader: tuple[MetadataStore, ObjectReader], limit: int
) -> None:
    store, reader = mysql_store_and_reader
    for key in reversed(AWKWARD):
        save_state(store, state(key), NO_EVENT, "t")
    save_state(store, state("a", bucket="bucket-b"), NO_EVENT, "t")

    seen: list[Position] = []
    after: Position | None = None
    while True:
        page = reader.page(ObjectFilter(), after=after, limit=limit)
        seen += [(record.bucket, record.object_key) for record in page.records]
        if page.next_after is None:
            break
        after = page.next_after

    expected = [("bucket-a", key) for key in sorted(AWKWARD, key=str.encode)]
    assert seen == [*expected, ("bucket-b", "a")]


@pytest.mark.mysql
def test_mysql_keys_that_differ_by_trailing_spaces_or_case_are_distinct_positions(
    mysql_store_and_reader: tuple[MetadataStore, ObjectReader],
) -> None:
    store, reader = mysql_store_and_reader
    for key in ["k", "k ", "K"]:
        save_state(store, state(key), NO_EVENT, "t")

    after_k = reader.page(ObjectFilter("bucket-a"), after=("bucket-a", "k"))
    exact = reader.get("bucket-a", "k ")

    assert [record.object_key for record in after_k.records] == ["k "]
    assert exact is not None
    assert exact.object_key == "k "


@pytest.mark.mysql
def test_mysql_a_prefix_with_like_wildcards_pages_literally(
    mysql_store_and_reader: tuple[MetadataStore, ObjectReader],
) -> None:
    store, reader = mysql_store_and_reader
    for key in ["50%/a", "50%/b", "50%/c", "50x/a", "50_/a", "50%"]:
        save_state(store, state(key), NO_EVENT, "t")

    first = reader.page(ObjectFilter("bucket-a", "50%/"), limit=2)
    rest = reader.page(ObjectFilter("bucket-a", "50%/"), after=first.next_after, limit=2)

    assert [record.object_key for record in first.records] == ["50%/a", "50%/b"]
    assert [record.object_key for record in rest.records] == ["50%/c"]
    assert rest.next_after is None
