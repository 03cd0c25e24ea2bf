"""Every version of a versioned key (``s3meta.domain.versions``), through the indexer on
the in-memory twins: whatever the order and however often the events come, the versions
recorded are the bucket's and the current record is what HeadObject says."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from s3meta.domain.objects import ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.domain.versions import in_order
from s3meta.errors import ObjectNotFound
from s3meta.indexing import Indexer
from s3meta.memory import MemoryMetrics, MemoryObjects, MemoryStore

BUCKET, KEY = "bucket-v", "doc"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Scenario:
    """S3 operations on one versioned key, and the event each sent."""

    def __init__(self) -> None:
        self.objects = MemoryObjects()
        self.events: list[dict[str, Any]] = []
        self._numbers = itertools.count(1)

    def _event(self, name: str, version: str) -> None:
        number = len(self.events) + 1
        self.events.append(
            {
                "event_name": name,
                "event_time": (T0 + timedelta(seconds=number)).isoformat(),
                "sequencer": f"{0x0055AED6DCD9000000 + number:018X}",
                "version_id": version,
            }
        )

    def put(self, size: int) -> str:
        version = f"v{next(self._numbers)}"
        modified = T0 + timedelta(seconds=len(self.events) + 1)
        self.objects.put(
            ObjectState(BUCKET, KEY, size, f"etag-{size}", modified, version_id=version)
        )
        self._event("ObjectCreated:Put", version)
        return version

    def delete(self) -> str:
        marker = f"m{next(self._numbers)}"
        self.objects.add_delete_marker(BUCKET, KEY, marker)
        self._event("ObjectRemoved:DeleteMarkerCreated", marker)
        return marker

    def delete_version(self, version: str) -> None:
        self.objects.delete_version(BUCKET, KEY, version)
        self._event("ObjectRemoved:Delete", version)


def _index(scenario: Scenario, order: list[dict[str, Any]]) -> MemoryStore:
    store = MemoryStore()
    indexer = Indexer(
        storage=scenario.objects,
        store=store,
        metrics=MemoryMetrics(),
        retries=RetryPolicy(max_retries=0, backoff=1, backoff_max=1),
    )
    for number, fields in enumerate(order):
        indexer.index(BUCKET, KEY, fields, attempt=1, task_id=f"t{number}")
    return store


def _listed(objects: MemoryObjects) -> list[tuple[str, bool, int | None]]:
    """The key's versions newest first, as ListObjectVersions gives them."""
    return [
        (version, state is None, state.size if state else None)
        for version, state in reversed(objects.versions[BUCKET, KEY])
    ]


def _recorded(store: MemoryStore) -> list[tuple[str, bool, int | None]]:
    standing = [v for v in store.versions[BUCKET, KEY].values() if not v.is_deleted]
    return [
        (str(v.version_id), v.is_delete_marker, None if v.is_delete_marker else v.size)
        for v in in_order(standing)
    ]


def _check(scenario: Scenario, store: MemoryStore) -> None:
    assert _recorded(store) == _listed(scenario.objects)
    record = store.get(BUCKET, KEY)
    assert record is not None
    try:
        head = scenario.objects.head(BUCKET, KEY)
    except ObjectNotFound:
        assert record.is_deleted
        return
    assert not record.is_deleted
    assert (record.version_id, record.size, record.etag) == (head.version_id, head.size, head.etag)


def overwrite() -> Scenario:
    scenario = Scenario()
    scenario.put(1)
    scenario.put(2)
    return scenario


def delete_marker() -> Scenario:
    scenario = overwrite()
    scenario.delete()
    return scenario


def delete_of_a_version() -> Scenario:
    scenario = Scenario()
    scenario.put(1)
    latest = scenario.put(2)
    scenario.delete_version(latest)
    return scenario


def restore() -> Scenario:
    scenario = overwrite()
    marker = scenario.delete()
    scenario.delete_version(marker)
    return scenario


SCENARIOS = [overwrite, delete_marker, delete_of_a_version, restore]


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda make: make.__name__)
def test_every_order_of_a_versioned_keys_events_ends_with_the_buckets_versions(make: Any) -> None:
    scenario = make()
    for order in itertools.permutations(scenario.events):
        _check(scenario, _index(scenario, list(order)))


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda make: make.__name__)
def test_duplicated_and_shuffled_events_end_the_same(make: Any) -> None:
    scenario = make()
    shuffle = random.Random(17)
    for _ in range(20):
        order = scenario.events * 2
        shuffle.shuffle(order)
        _check(scenario, _index(scenario, order))


def test_a_delete_marker_is_recorded_as_a_version_and_the_key_as_deleted() -> None:
    scenario = delete_marker()
    store = _index(scenario, scenario.events)
    record = store.get(BUCKET, KEY)
    assert record is not None
    assert (record.is_deleted, record.deleted_by) == (True, "ObjectRemoved:DeleteMarkerCreated")
    assert [entry.record_type for entry in store.history(BUCKET, KEY)] == [
        "CREATE",
        "CREATE",
        "DELETE",
    ]


def test_a_removed_version_stays_removed_when_its_creation_comes_after() -> None:
    scenario = delete_of_a_version()
    put1, put2, removal = scenario.events
    store = _index(scenario, [removal, put2, put1])
    removed = store.versions[BUCKET, KEY]["v2"]
    assert removed.is_deleted
    assert removed.sequencer == put2["sequencer"]  # its creation's, for the order
    _check(scenario, store)


def test_an_unversioned_change_writes_no_version() -> None:
    objects = MemoryObjects()
    objects.put(ObjectState(BUCKET, "plain", 1, "e", T0))
    store = MemoryStore()
    Indexer(objects, store, MemoryMetrics(), RetryPolicy(0, 1, 1)).index(
        BUCKET, "plain", {"event_name": "ObjectCreated:Put"}, attempt=1, task_id="t"
    )
    assert store.versions == {}
    assert store.get(BUCKET, "plain") is not None


def test_a_suspended_buckets_null_version_is_unversioned() -> None:
    objects = MemoryObjects()
    objects.objects[BUCKET, "n"] = replace(ObjectState(BUCKET, "n", 1, "e", T0), version_id="null")
    store = MemoryStore()
    Indexer(objects, store, MemoryMetrics(), RetryPolicy(0, 1, 1)).index(
        BUCKET,
        "n",
        {"event_name": "ObjectCreated:Put", "version_id": "null"},
        attempt=1,
        task_id="t",
    )
    assert store.versions == {}


def test_every_column_of_object_versions_but_its_id_is_a_field_of_version_record() -> None:
    from db.models import ObjectVersion
    from s3meta.domain.versions import version_fields

    columns = {column.name for column in ObjectVersion.__table__.columns} - {"id"}
    assert columns == set(version_fields())


def test_a_version_id_s3_refuses_is_dropped_and_the_key_looked_at_as_it_is() -> None:
    objects = MemoryObjects()
    objects.put(ObjectState(BUCKET, "plain", 7, "e", T0))
    store = MemoryStore()
    Indexer(objects, store, MemoryMetrics(), RetryPolicy(0, 1, 1)).index(
        BUCKET,
        "plain",
        {"event_name": "ObjectCreated:Put", "version_id": "made-up"},
        attempt=1,
        task_id="t",
    )
    record = store.get(BUCKET, "plain")
    assert record is not None
    assert (record.size, record.is_deleted) == (7, False)
    assert store.versions == {}
