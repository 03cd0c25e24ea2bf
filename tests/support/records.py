"""Object records and times for the API and cache tests."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType

from s3meta.domain.records import ObjectRecord

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def record(updated: datetime, size: int = 1) -> ObjectRecord:
    """A record of s3://b-1/k é written at ``updated``; deleted when ``size`` is 0."""
    return ObjectRecord(
        bucket="b-1",
        object_key="k é",
        created_at=T0,
        updated_at=updated,
        size=size,
        last_modified=T0,
        user_metadata=MappingProxyType({"owner": "ann"}),
        tags=MappingProxyType({}),
        is_deleted=size == 0,
    )
