"""The prefix totals' rules, and the in-memory store that keeps them as the writer does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.records import ObjectRecord
from s3meta.domain.totals import (
    Total,
    TotalKey,
    TotalsRule,
    corrections,
    counted,
    deltas,
    recount,
)
from s3meta.domain.transitions import Change
from s3meta.memory import MemoryStore

START = datetime(2026, 12, 1, tzinfo=UTC)
KEYS = ["top.txt", "a/one", "a/two", "a/b/c/deep", "a/b/x", "z/", "e\u0301/k", "a//k"]
CLASSES = ["STANDARD", "GLACIER", "STANDARD_IA"]


def record(
    key: str, size: int = 5, *, deleted: bool = False, kind: str = "STANDARD"
) -> ObjectRecord:
    return ObjectRecord(
        bucket="b",
        object_key=key,
        created_at=START,
        updated_at=START,
        size=size,
        storage_class=kind,
        is_deleted=deleted,
    )


def test_a_key_counts_under_the_root_and_each_of_its_prefixes_down_to_the_depth() -> None:
    rule = TotalsRule(depth=2)
    assert rule.prefixes("a/b/c/d.txt") == ("", "a/", "a/b/")
    assert rule.prefixes("a/b") == ("", "a/")
    assert rule.prefixes("file") == ("",)
    assert rule.prefixes("a/") == ("", "a/")
    assert rule.prefixes("a//b") == ("", "a/", "a//")


def test_a_depth_of_zero_keeps_only_the_bucket_total() -> None:
    assert TotalsRule(depth=0).prefixes("a/b/c") == ("",)


def test_the_delimiter_may_be_other_than_a_slash() -> None:
    assert TotalsRule(depth=3, delimiter="::").prefixes("x::y::z") == ("", "x::", "x::y::")


def test_a_prefix_has_totals_only_if_it_ends_in_the_delimiter_within_the_depth() -> None:
    rule = TotalsRule(depth=2)
    assert rule.depth_of("") == 0
    assert rule.depth_of("a/b/") == 2
    with pytest.raises(ValueError, match="ends in '/': 'a/'"):
        rule.depth_of("a")
    with pytest.raises(ValueError, match="2 levels deep; 'a/b/c/' is 3"):
        rule.depth_of("a/b/c/")


def test_a_rule_out_of_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="delimiter must not be empty"):
        TotalsRule(delimiter="")
    with pytest.raises(ValueError, match="shards must be 1 to 256, not 0"):
        TotalsRule(shards=0)


def test_deleted_records_count_nowhere() -> None:
    assert counted(record("k", deleted=True)) is None
    assert counted(None) is None
    assert counted(record("k", 7, kind="GLACIER")) == ("GLACIER", Total(1, 7))


def test_an_overwrite_of_another_size_moves_only_the_bytes() -> None:
    rule = TotalsRule(depth=1, shards=4)
    moved = deltas(rule, record("a/k", 5), record("a/k", 8))
    assert [(d.key.prefix, d.depth, d.change) for d in moved] == [
        ("", 0, Total(0, 3)),
        ("a/", 1, Total(0, 3)),
    ]
    assert {d.shard for d in moved} == {rule.shard("a/k")}


def test_an_overwrite_of_the_same_size_and_class_changes_no_total() -> None:
    assert deltas(TotalsRule(), record("a/k", 5), record("a/k", 5)) == []


def test_a_change_of_storage_class_moves_the_object_between_classes() -> None:
    moved = deltas(TotalsRule(depth=0), record("k", 5), record("k", 5, kind="GLACIER"))
    assert [(d.key.storage_class, d.change) for d in moved] == [
        ("GLACIER", Total(1, 5)),
        ("STANDARD", Total(-1, -5)),
    ]


def test_a_deletion_takes_the_object_out_of_every_prefix() -> None:
    gone = deltas(TotalsRule(depth=3), record("a/b/k", 5), record("a/b/k", 5, deleted=True))
    assert [(d.key.prefix, d.change) for d in gone] == [
        ("", Total(-1, -5)),
        ("a/", Total(-1, -5)),
        ("a/b/", Total(-1, -5)),
    ]


def test_a_missing_storage_class_counts_as_standard() -> None:
    assert recount(TotalsRule(depth=0), [("b", "k", None, None)]) == {
        TotalKey("b", "", "STANDARD"): Total(1, 0)
    }


totals = st.dictionaries(
    st.builds(
        TotalKey, st.just("b"), st.sampled_from(["", "a/", "a/b/"]), st.sampled_from(CLASSES)
    ),
    st.builds(Total, st.integers(-5, 5), st.integers(-50, 50)),
)


@given(totals, totals)
def test_corrections_added_to_what_was_found_give_what_was_expected(
    expected: dict[TotalKey, Total], found: dict[TotalKey, Total]
) -> None:
    fixed = dict(found)
    for key, change in corrections(expected, found).items():
        fixed[key] = fixed.get(key, Total()) + change
    assert {k: v for k, v in fixed.items() if v} == {k: v for k, v in expected.items() if v}


operation = st.tuples(
    st.sampled_from(KEYS),
    st.booleans(),  # a put (True) or a removal
    st.integers(0, 10_000),  # size
    st.sampled_from(CLASSES),
    st.integers(0, 20),  # seconds after START: changes may come in any order
    st.booleans(),  # with an event
)


def change_of(n: int, op: tuple[str, bool, int, str, int, bool]) -> Change:
    key, put, size, kind, at, evented = op
    when = START + timedelta(seconds=at)
    state = ObjectState("b", key, size, f"etag-{size}", when, storage_class=kind) if put else None
    name = "ObjectCreated:Put" if put else "ObjectRemoved:Delete"
    event = EventInfo(name, when, f"{at:08X}") if evented else EventInfo()
    return Change("b", key, state, event, when + timedelta(seconds=1), f"task-{n}")


@settings(max_examples=200)
@given(st.lists(operation, max_size=40), st.integers(0, 4), st.integers(1, 8))
def test_the_memory_stores_totals_equal_a_recount_after_any_sequence_of_changes(
    operations: list[tuple[str, bool, int, str, int, bool]], depth: int, shards: int
) -> None:
    rule = TotalsRule(depth=depth, shards=shards)
    clock = iter(START + timedelta(minutes=n) for n in range(len(operations) + 1))
    store = MemoryStore(clock=lambda: next(clock), totals=rule)
    for n, op in enumerate(operations):
        store.apply(change_of(n, op))
    live = [
        (r.bucket, r.object_key, r.storage_class, r.size)
        for r in store.records.values()
        if not r.is_deleted and not r.never_seen
    ]
    assert store.totals() == recount(rule, live)
    # Each key's deltas go to one shard: no shard ever holds less than nothing.
    assert all(t.objects >= 0 and t.bytes >= 0 for t in store.shards.values())
