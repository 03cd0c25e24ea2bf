"""Rows written as a task would write them, for tests that need some in the index."""

from __future__ import annotations

from datetime import UTC, datetime

from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.transitions import Applied, Change
from s3meta.indexing import IndexStore


def save_state(
    store: IndexStore, state: ObjectState, event: EventInfo, task_id: str | None = None
) -> Applied:
    """``store.apply`` a live state observed now."""
    change = Change(state.bucket, state.key, state, event, datetime.now(UTC), task_id)
    return store.apply(change)


def mark_deleted(
    store: IndexStore, bucket: str, key: str, event: EventInfo, task_id: str | None = None
) -> Applied:
    """``store.apply`` the object's removal, observed now."""
    return store.apply(Change(bucket, key, None, event, datetime.now(UTC), task_id))
