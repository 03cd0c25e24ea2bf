"""An object's record as the cache holds it, and the stamp that orders a key's versions. Pure.

Every write of a key stamps its record's ``updated_at`` later than the one before
(``s3meta.domain.transitions``), under the row lock, so a key's versions are ordered by it
whatever the workers' clocks: the cache keeps the entry of the highest stamp, compared
atomically where it is stored (``s3meta.rediscache``, ``s3meta.memory.MemoryCache``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from s3meta.domain.records import MAPPING_FIELDS, ObjectRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMES = frozenset(
    field.name
    for field in fields(ObjectRecord)
    if "datetime" in str(field.type)  # the annotations are strings (postponed evaluation)
)
_MAPPINGS = frozenset(MAPPING_FIELDS)


@dataclass(frozen=True, slots=True)
class CachedRecord:
    """A record found in the cache, and when it was put there."""

    record: ObjectRecord
    cached_at: datetime

    def age(self, now: datetime) -> float:
        return max(0.0, (now - self.cached_at).total_seconds())


def stamp(record: ObjectRecord) -> int:
    """The record's version among its key's: ``updated_at`` in microseconds since 1970."""
    delta = record.updated_at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode(record: ObjectRecord) -> str:
    """The record as JSON, every field, exactly."""
    values: dict[str, Any] = {}
    for field in fields(ObjectRecord):
        value = getattr(record, field.name)
        if field.name in _TIMES and value is not None:
            value = value.astimezone(UTC).isoformat()
        elif field.name in _MAPPINGS and value is not None:
            value = dict(value)
        values[field.name] = value
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def decode(text: str | bytes) -> ObjectRecord:
    """The record ``encode`` wrote; ``ValueError`` if ``text`` is not one."""
    try:
        values = json.loads(text)
        for name in _TIMES:
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        for name in _MAPPINGS:
            if values.get(name) is not None:
                values[name] = MappingProxyType(dict(values[name]))
        return ObjectRecord(**values)
    except (TypeError, KeyError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a cached record: {exc}") from None
