"""The writer's contract beyond the write rule (``db.store``; the rule is in test_transitions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.transitions import Change


def test_a_store_built_without_results_refuses_a_result_and_writes_nothing(
    store: MetadataStore, reader: ObjectReader
) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    found = ObjectState("bucket-a", "k", size=1, etag="etag-1", last_modified=now)
    change = Change("bucket-a", "k", found, EventInfo(), now, "task-1")

    with pytest.raises(TypeError, match="built without results"):
        store.apply(change, result=lambda applied: pytest.fail("no result is built"))

    assert reader.get("bucket-a", "k") is None
