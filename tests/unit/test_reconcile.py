"""The streaming merge behind ``s3meta reconcile`` (pure), and the command's edges in moto."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import Result
from hypothesis import given
from hypothesis import strategies as st

from s3meta.aws.listing import iter_listing
from s3meta.cli.reconcile import reconcile
from s3meta.domain.objects import Listed
from s3meta.domain.reconcile import Difference, Drift, Recorded, Tally, differences
from tests.support.cli import invoke as cli_invoke

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def byte_order(keys: set[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode())


def run(listing: list[Listed], rows: list[Recorded]) -> tuple[list[Difference], Tally]:
    tally = Tally()
    return list(differences(iter(listing), iter(rows), tally)), tally


def kinds(found: list[Difference]) -> list[tuple[Drift, str]]:
    return [(difference.kind, difference.key) for difference in found]


# --- exhaustive small cases -------------------------------------------------------------

# What one key can be on each side: absent, or a version (etag, size).
_OBJECT_STATES = [None, ("e1", 1), ("e2", 1), ("e1", 2)]
_ROW_STATES = [None, ("e1", 1, False), ("e1", 1, True), ("e2", 1, False), ("e1", 2, False)]


def expected_kind(obj: tuple[str, int] | None, row: tuple[str, int, bool] | None) -> Drift | None:
    if obj is None:
        return Drift.STALE if row is not None and not row[2] else None
    if row is None or row[2]:
        return Drift.MISSING
    return None if (obj[0], obj[1]) == (row[0], row[1]) else Drift.CHANGED


def test_every_combination_of_three_keys_is_classified() -> None:
    keys = ["a", "b", "c"]
    for objs in itertools.product(_OBJECT_STATES, repeat=3):
        for rows in itertools.product(_ROW_STATES, repeat=3):
            listing = [Listed(k, o[0], o[1]) for k, o in zip(keys, objs, strict=True) if o]
            recorded = [Recorded(k, r[0], r[1], r[2]) for k, r in zip(keys, rows, strict=True) if r]

            found, tally = run(listing, recorded)

            expected = [
                (kind, key)
                for key, obj, row in zip(keys, objs, rows, strict=True)
                if (kind := expected_kind(obj, row)) is not None
            ]
            assert kinds(found) == expected
            assert tally.listed == len(listing)
            assert tally.rows == len(recorded)
            assert tally.live_rows == sum(1 for r in recorded if not r.deleted)
            assert tally.in_sync == len(listing) - tally.missing - tally.changed
            assert (tally.missing, tally.stale, tally.changed) == (
                sum(kind is Drift.MISSING for kind, _ in expected),
                sum(kind is Drift.STALE for kind, _ in expected),
                sum(kind is Drift.CHANGED for kind, _ in expected),
            )


def test_empty_sides() -> None:
    assert run([], []) == ([], Tally())
    found, tally = run([Listed("k", "e", 1)], [])
    assert kinds(found) == [(Drift.MISSING, "k")]
    assert found[0].recorded is None
    found, tally = run([], [Recorded("k", "e", 1, False), Recorded("l", "e", 1, True)])
    assert kinds(found) == [(Drift.STALE, "k")]
    assert (tally.rows, tally.live_rows, tally.stale) == (2, 1, 1)


def test_differences_carry_both_sides() -> None:
    obj, row = Listed("k", "new", 2), Recorded("k", "old", 1, False)
    (found,), _ = run([obj], [row])
    assert found == Difference(Drift.CHANGED, "k", listed=obj, recorded=row)


def test_quotes_around_an_etag_do_not_count_as_a_change() -> None:
    assert run([Listed("k", '"abc"', 1)], [Recorded("k", "abc", 1, False)])[0] == []


def test_keys_are_merged_in_utf8_byte_order_not_code_point_order() -> None:
    # S3's order is the keys' UTF-8 bytes (not UTF-16 units, where U+FFFF sorts after
    # U+1F600, nor a database collation, where "A" and "a" may tie).
    keys = {"a", "é", "z", "\uffff", "\U0001f600", "a/b", "a-b", "A"}
    ordered = byte_order(keys)
    listing = [Listed(key, "e", 1) for key in ordered]
    rows = [Recorded(key, "e", 1, False) for key in ordered]
    found, tally = run(listing, rows)
    assert found == []
    assert tally.in_sync == len(keys)


def test_a_side_out_of_order_or_repeating_a_key_is_refused() -> None:
    listing = [Listed("b", "e", 1), Listed("a", "e", 1)]
    with pytest.raises(ValueError, match="listing not in strictly increasing key order"):
        run(listing, [])
    with pytest.raises(ValueError, match="rows not in strictly increasing"):
        run([], [Recorded("a", "e", 1, False), Recorded("a", "e", 1, False)])


def test_it_streams_both_sides_lazily() -> None:
    pulled: list[str] = []

    def listing() -> Iterator[Listed]:
        for key in ("a", "b", "c"):
            pulled.append(f"s3:{key}")
            yield Listed(key, "e", 1)

    def rows() -> Iterator[Recorded]:
        for key in ("b", "c"):
            pulled.append(f"db:{key}")
            yield Recorded(key, "e", 1, False)

    found = differences(listing(), rows())
    assert next(found).key == "a"
    assert pulled == ["s3:a", "db:b"]  # one entry of each side held, no more
    assert [d.key for d in found] == []
    assert pulled == ["s3:a", "db:b", "s3:b", "s3:c", "db:c"]


# --- property ----------------------------------------------------------------------------

_keys = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], min_codepoint=1), min_size=1, max_size=4
)
_etags = st.sampled_from(["e1", "e2"])
_sizes = st.integers(0, 2)


@given(
    objects=st.dictionaries(_keys, st.tuples(_etags, _sizes), max_size=25),
    rows=st.dictionaries(_keys, st.tuples(_etags, _sizes, st.booleans()), max_size=25),
)
def test_differences_equal_the_set_based_computation(
    objects: dict[str, tuple[str, int]], rows: dict[str, tuple[str, int, bool]]
) -> None:
    listing = [Listed(key, *objects[key]) for key in byte_order(set(objects))]
    recorded = [Recorded(key, *rows[key]) for key in byte_order(set(rows))]

    found, tally = run(listing, recorded)

    live = {key for key, row in rows.items() if not row[2]}
    missing = set(objects) - live
    stale = live - set(objects)
    changed = {key for key in set(objects) & live if objects[key] != rows[key][:2]}
    assert {d.key for d in found if d.kind is Drift.MISSING} == missing
    assert {d.key for d in found if d.kind is Drift.STALE} == stale
    assert {d.key for d in found if d.kind is Drift.CHANGED} == changed
    assert len(found) == len(missing) + len(stale) + len(changed)
    assert [d.key.encode() for d in found] == sorted(d.key.encode() for d in found)
    assert (tally.listed, tally.rows) == (len(objects), len(rows))
    assert tally.in_sync == len(objects) - len(missing) - len(changed)


# --- listing and command edges (moto in process) -----------------------------------------


def test_listing_pages_in_byte_order(s3: S3Client) -> None:
    keys = {f"p/{n:03d}" for n in range(7)} | {"p/\U0001f600", "p/\uffff", "q/other"}
    for key in keys:
        s3.put_object(Bucket="bucket-a", Key=key, Body=b"xy")
    listed = list(iter_listing(s3, "bucket-a", "p/", page_size=3))
    assert [entry.key for entry in listed] == byte_order({k for k in keys if k.startswith("p/")})
    assert {entry.size for entry in listed} == {2}
    assert all(entry.etag and '"' not in entry.etag for entry in listed)


def invoke(*args: str, **env: str) -> Result:
    return cli_invoke(reconcile, *args, **env)


@pytest.mark.parametrize("uri", ["bucket-a", "s3://", "s3://Bad_Bucket/x", "http://bucket-a"])
def test_a_bad_uri_is_one_line_and_exit_2(uri: str, isolated_environment: None) -> None:
    result = invoke(uri)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    from tests.support.database import migrate

    url = f"sqlite:///{tmp_path / 'meta.db'}"
    migrate(url)
    return url


def test_an_unknown_bucket_is_one_line_and_exit_1(s3: S3Client, sqlite_db: str) -> None:
    result = invoke("s3://no-such-bucket-here", S3META_DATABASE_URL=sqlite_db)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == ["Error: s3://no-such-bucket-here: no such bucket"]


def test_reports_missing_objects_against_an_empty_table(s3: S3Client, sqlite_db: str) -> None:
    for key in ("a/1", "a/2", "b/1"):
        s3.put_object(Bucket="bucket-a", Key=key, Body=b"x")

    text = invoke("s3://bucket-a/a/", "--limit-report", "1", S3META_DATABASE_URL=sqlite_db)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].startswith("missing  s3://bucket-a/a/1  (no row;")
    assert lines[1] == "... and 1 more (see --limit-report or --json)"
    assert "missing 2, stale 0, changed 0" in lines[2]

    checked = invoke("s3://bucket-a", "--check", "--json", S3META_DATABASE_URL=sqlite_db)
    assert checked.exit_code == 3, checked.output
    *found, summary = [json.loads(line) for line in checked.stdout.splitlines()]
    assert [(d["type"], d["kind"], d["key"]) for d in found] == [
        ("difference", "missing", key) for key in ("a/1", "a/2", "b/1")
    ]
    assert summary["type"] == "summary"
    assert (summary["listed"], summary["rows"], summary["missing"], summary["queued"]) == (
        3,
        0,
        3,
        0,
    )
