"""``s3meta.operations.reconcile``: a listing in memory against rows on SQLite, repairs queued."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.events import ObjectEvent
from s3meta.domain.objects import EventInfo, Listed, ObjectState
from s3meta.domain.reconcile import Difference, Drift
from s3meta.errors import ConfigError, PublishError
from s3meta.operations.reconcile import reconcile
from tests.support.writes import mark_deleted, save_state

MODIFIED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Publisher:
    """Publishes into a list; refuses from the ``refuse_from``-th task on."""

    def __init__(self, refuse_from: int | None = None) -> None:
        self.events: list[ObjectEvent] = []
        self._refuse_from = refuse_from

    def publish(self, event: ObjectEvent) -> str:
        if self._refuse_from is not None and len(self.events) >= self._refuse_from:
            raise PublishError(f"could not publish the task for {event.key}: refused")
        self.events.append(event)
        return f"task-{len(self.events)}"


def put(store: MetadataStore, key: str, etag: str = "e", size: int = 1) -> None:
    state = ObjectState(bucket="bucket-a", key=key, size=size, etag=etag, last_modified=MODIFIED)
    save_state(store, state, EventInfo(), "t")


@pytest.fixture
def drifted(store: MetadataStore) -> list[Listed]:
    """Rows for "changed", "same" and "stale"; a row never seen for "phantom". The listing."""
    put(store, "changed", etag="old")
    put(store, "same")
    put(store, "stale")
    mark_deleted(store, "bucket-a", "phantom", EventInfo(), "t")  # HeadObject never found it
    return [
        Listed("changed", "new", 1),
        Listed("missing", "e", 1),
        Listed("phantom", "e", 1),
        Listed("same", "e", 1),
    ]


def test_each_difference_is_reported_with_its_repair_task(
    reader: ObjectReader, drifted: list[Listed]
) -> None:
    publisher = Publisher()
    found: list[tuple[Drift, str, str | None]] = []

    def note(difference: Difference, task_id: str | None) -> None:
        found.append((difference.kind, difference.key, task_id))

    done = reconcile(reader, drifted, "bucket-a", "", publisher=publisher, on_difference=note)

    # A row never seen is no row at all: its object is missing, as one without a row.
    assert found == [
        (Drift.CHANGED, "changed", "task-1"),
        (Drift.MISSING, "missing", "task-2"),
        (Drift.MISSING, "phantom", "task-3"),
        (Drift.STALE, "stale", "task-4"),
    ]
    assert [(event.key, event.event_name) for event in publisher.events] == [
        ("changed", "Reconcile:Changed"),
        ("missing", "Reconcile:Missing"),
        ("phantom", "Reconcile:Missing"),
        ("stale", "Reconcile:Stale"),
    ]
    assert (done.queued, done.tally.rows, done.tally.in_sync, done.tally.drift) == (4, 3, 1, 4)


def test_without_a_publisher_differences_are_only_reported(
    reader: ObjectReader, drifted: list[Listed]
) -> None:
    task_ids: list[str | None] = []

    done = reconcile(
        reader,
        drifted,
        "bucket-a",
        "",
        publisher=None,
        on_difference=lambda _difference, task_id: task_ids.append(task_id),
    )

    assert (task_ids, done.queued, done.tally.missing) == ([None] * 4, 0, 2)


def test_an_error_after_queueing_says_how_many_and_that_again_is_safe(
    reader: ObjectReader, drifted: list[Listed]
) -> None:
    with pytest.raises(PublishError) as raised:
        reconcile(
            reader,
            drifted,
            "bucket-a",
            "",
            publisher=Publisher(refuse_from=1),
            on_difference=lambda _difference, _task_id: None,
        )

    assert str(raised.value) == (
        "could not publish the task for missing: refused (after queueing 1 repair task; "
        "running reconcile again is safe)"
    )


def test_a_listing_out_of_order_is_refused_not_guessed(
    reader: ObjectReader, store: MetadataStore
) -> None:
    listing = [Listed("b", "e", 1), Listed("a", "e", 1)]

    with pytest.raises(ConfigError, match=r"cannot reconcile s3://bucket-a/: "):
        reconcile(reader, listing, "bucket-a", "", publisher=None, on_difference=lambda *_: None)
