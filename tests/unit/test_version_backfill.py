"""Backfilling and reconciling versions (``backfill --versions``, ``reconcile --versions``):
the tasks a listing gives, run by the indexer on the in-memory twins, record every version
and the current one; the pure comparison of a version listing with version rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from s3meta.domain.objects import ListedVersion, ObjectState
from s3meta.domain.reconcile import (
    Drift,
    RecordedVersion,
    Tally,
    VersionDifference,
    version_differences,
)
from s3meta.domain.retries import RetryPolicy
from s3meta.domain.versions import in_listed_order
from s3meta.indexing import Indexer
from s3meta.memory import MemoryMetrics, MemoryObjects, MemoryStore
from s3meta.operations.backfill import version_task_kwargs

BUCKET, KEY = "bucket-v", "doc"
# One second, as HeadObject's LastModified (and moto's listing) states it.
SECOND = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _version(version_id: str, size: int) -> ObjectState:
    return ObjectState(BUCKET, KEY, size, f"etag-{size}", SECOND, version_id=version_id)


def _listing(objects: MemoryObjects) -> list[ListedVersion]:
    """ListObjectVersions of the key: newest first, every LastModified the same second."""
    return [
        ListedVersion(KEY, version_id, state is None, SECOND)
        if state is None
        else ListedVersion(KEY, version_id, False, SECOND, state.etag, state.size)
        for version_id, state in reversed(objects.versions[BUCKET, KEY])
    ]


def _backfill(objects: MemoryObjects, seed: int) -> MemoryStore:
    store = MemoryStore()
    indexer = Indexer(
        storage=objects,
        store=store,
        metrics=MemoryMetrics(),
        retries=RetryPolicy(max_retries=0, backoff=1, backoff_max=1),
    )
    tasks = [version_task_kwargs(BUCKET, listed) for listed in in_listed_order(_listing(objects))]
    random.Random(seed).shuffle(tasks)
    for number, kwargs in enumerate(tasks):
        indexer.index(BUCKET, KEY, kwargs, attempt=1, task_id=f"t{number}")
    return store


@pytest.mark.parametrize("seed", range(6))
def test_versions_of_one_second_backfilled_in_any_order_end_with_the_listed_latest_current(
    seed: int,
) -> None:
    objects = MemoryObjects()
    objects.put(_version("v1", 1))
    objects.put(_version("v2", 22))
    objects.put(_version("v3", 333))

    store = _backfill(objects, seed)

    assert set(store.versions[BUCKET, KEY]) == {"v1", "v2", "v3"}
    current = store.get(BUCKET, KEY)
    assert current is not None
    assert (current.version_id, current.size, current.is_deleted) == ("v3", 333, False)


@pytest.mark.parametrize("seed", range(6))
def test_a_delete_marker_listed_latest_in_the_same_second_leaves_the_key_deleted(
    seed: int,
) -> None:
    objects = MemoryObjects()
    objects.put(_version("v1", 1))
    objects.add_delete_marker(BUCKET, KEY, "m2")

    store = _backfill(objects, seed)

    marker = store.versions[BUCKET, KEY]["m2"]
    assert marker.is_delete_marker
    current = store.get(BUCKET, KEY)
    assert current is not None
    assert current.is_deleted


def test_a_delete_markers_task_carries_what_its_deletemarkercreated_event_would() -> None:
    (marker,) = in_listed_order([ListedVersion(KEY, "m1", True, SECOND)])

    assert version_task_kwargs(BUCKET, marker) == {
        "event_name": "ObjectRemoved:DeleteMarkerCreated",
        "event_time": SECOND.isoformat(),
        "version_id": "m1",
    }


def test_listed_order_adds_a_microsecond_per_older_version_of_the_same_time_only() -> None:
    later = SECOND + timedelta(seconds=1)
    listing = [
        ListedVersion("a", "a3", False, later, "e", 1),
        ListedVersion("a", "a2", False, SECOND, "e", 1),
        ListedVersion("a", "a1", False, SECOND, "e", 1),
        ListedVersion("b", "b1", False, SECOND, "e", 1),
    ]

    times = [(listed.version_id, listed.event_time) for listed in in_listed_order(listing)]

    assert times == [
        ("a3", later),
        ("a2", SECOND + timedelta(microseconds=1)),
        ("a1", SECOND),
        ("b1", SECOND),
    ]


def _listed(
    key: str, version_id: str, etag: str | None = "e", size: int | None = 1
) -> ListedVersion:
    return ListedVersion(key, version_id, etag is None, SECOND, etag, size)


def _row(
    key: str,
    version_id: str,
    etag: str | None = "e",
    size: int | None = 1,
    *,
    removed: bool = False,
) -> RecordedVersion:
    return RecordedVersion(key, version_id, etag, size, etag is None, removed)


def test_version_differences_name_missing_changed_and_stale_versions_and_count_them() -> None:
    listing = [
        _listed("a", "a2"),
        _listed("a", "a1"),
        _listed("b", "b2", None, None),  # a delete marker
        _listed("b", "b1", "new", 2),
        _listed("c", "c1"),
    ]
    rows = [
        _row("a", "a1"),
        _row("a", "a2"),
        _row("a", "a0", removed=True),  # removed and not listed: in sync
        _row("b", "b1"),
        _row("b", "b2"),  # recorded as a version, listed as a delete marker
        _row("b", "b9"),  # stands, but not listed
        _row("c", "c1", removed=True),  # listed again: missing
        _row("d", "d1"),
    ]
    tally = Tally()

    found = list(version_differences(listing, rows, tally))

    assert [(d.kind, d.key, d.version_id) for d in found] == [
        (Drift.CHANGED, "b", "b2"),
        (Drift.CHANGED, "b", "b1"),
        (Drift.STALE, "b", "b9"),
        (Drift.MISSING, "c", "c1"),
        (Drift.STALE, "d", "d1"),
    ]
    assert (tally.listed, tally.rows, tally.live_rows, tally.in_sync) == (5, 8, 6, 2)
    assert (tally.missing, tally.changed, tally.stale) == (1, 2, 2)


def test_a_version_listed_without_any_row_is_missing_with_no_row() -> None:
    (difference,) = version_differences([_listed("a", "a1")], [])

    assert difference == VersionDifference(Drift.MISSING, "a", "a1", listed=_listed("a", "a1"))


@pytest.mark.parametrize(
    ("listing", "rows", "side"),
    [
        ([_listed("b", "b1"), _listed("a", "a1")], [], "listing"),
        ([], [_row("a", "a1"), _row("b", "b1"), _row("a", "a2")], "rows"),
    ],
)
def test_keys_out_of_order_are_an_error_never_a_guess(
    listing: list[ListedVersion], rows: list[RecordedVersion], side: str
) -> None:
    with pytest.raises(ValueError, match=f"^{side} not grouped by key"):
        list(version_differences(listing, rows))


def test_a_version_twice_on_one_side_is_an_error() -> None:
    with pytest.raises(ValueError, match="twice"):
        list(version_differences([_listed("a", "a1"), _listed("a", "a1")], []))
