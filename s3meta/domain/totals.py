"""Prefix totals, pure: which prefixes a key counts under, and what a change does to them.

A live object counts once (and its size) under its bucket's root ``""`` and under each
prefix of its key that ends in the delimiter, down to ``TotalsRule.depth`` levels, in its
storage class. A deleted or never-seen record counts nowhere. A store adds the ``deltas`` of
every transition in the transaction that writes the row, so the totals cannot drift from it.

Each writer adds its deltas to one of ``shards`` copies of each total (the shard of the key),
so writers of different keys seldom wait on one another's root row; a total is the sum of its
shards.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from s3meta.domain.objects import DEFAULT_STORAGE_CLASS
from s3meta.domain.records import ObjectRecord

MAX_DEPTH = 16
MAX_SHARDS = 256


@dataclass(frozen=True, slots=True)
class TotalsRule:
    """How deep totals are kept, on which delimiter, in how many shards."""

    depth: int = 3
    delimiter: str = "/"
    shards: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.depth <= MAX_DEPTH:
            raise ValueError(f"totals depth must be 0 to {MAX_DEPTH}, not {self.depth}")
        if not self.delimiter:
            raise ValueError("the totals delimiter must not be empty")
        if not 1 <= self.shards <= MAX_SHARDS:
            raise ValueError(f"totals shards must be 1 to {MAX_SHARDS}, not {self.shards}")

    def prefixes(self, key: str) -> tuple[str, ...]:
        """The prefixes ``key`` counts under: ``""``, then one per level, shallowest first."""
        parts = key.split(self.delimiter)[:-1][: self.depth]
        found = [""]
        for part in parts:
            found.append(found[-1] + part + self.delimiter)
        return tuple(found)

    def depth_of(self, prefix: str) -> int:
        """The level of ``prefix`` (``""`` is 0), or ValueError if no key counts under it."""
        if prefix and not prefix.endswith(self.delimiter):
            raise ValueError(
                f"a prefix with totals ends in {self.delimiter!r}: {prefix + self.delimiter!r}"
            )
        level = prefix.count(self.delimiter)
        if level > self.depth:
            raise ValueError(f"totals are kept {self.depth} levels deep; {prefix!r} is {level}")
        return level

    def shard(self, key: str) -> int:
        """The shard a key's deltas go to: always the same one, so no shard goes negative."""
        return zlib.crc32(key.encode("utf-8")) % self.shards


@dataclass(frozen=True, slots=True, order=True)
class TotalKey:
    """One total: a prefix of a bucket, in one storage class."""

    bucket: str
    prefix: str
    storage_class: str


@dataclass(frozen=True, slots=True)
class Total:
    """Objects and bytes."""

    objects: int = 0
    bytes: int = 0

    def __add__(self, other: Total) -> Total:
        return Total(self.objects + other.objects, self.bytes + other.bytes)

    def __sub__(self, other: Total) -> Total:
        return Total(self.objects - other.objects, self.bytes - other.bytes)

    def __bool__(self) -> bool:
        return bool(self.objects or self.bytes)


@dataclass(frozen=True, slots=True)
class Delta:
    """What to add to one shard of one total."""

    key: TotalKey
    depth: int
    shard: int
    change: Total


def counted(record: ObjectRecord | None) -> tuple[str, Total] | None:
    """What ``record`` counts as: its storage class and one object of its size; None if gone."""
    if record is None or record.is_deleted or record.never_seen:
        return None
    return record.storage_class or DEFAULT_STORAGE_CLASS, Total(1, record.size or 0)


def deltas(
    rule: TotalsRule, before: ObjectRecord | None, after: ObjectRecord | None
) -> list[Delta]:
    """What replacing ``before`` with ``after`` (one key's records) adds to the totals.

    Sorted by level, then total (the order of the table's key), so concurrent writers lock
    the rows in one order; none are zero (an overwrite of the same size and class changes
    nothing).
    """
    record = after if after is not None else before
    if record is None:
        return []
    sums: dict[TotalKey, Total] = defaultdict(Total)
    prefixes = rule.prefixes(record.object_key)
    for sign, side in ((-1, before), (1, after)):
        found = counted(side)
        if found is None:
            continue
        storage_class, total = found
        for prefix in prefixes:
            key = TotalKey(record.bucket, prefix, storage_class)
            sums[key] = sums[key] + total if sign > 0 else sums[key] - total
    shard = rule.shard(record.object_key)
    made = [Delta(key, rule.depth_of(key.prefix), shard, change) for key, change in sums.items()]
    return sorted((d for d in made if d.change), key=lambda d: (d.depth, d.key))


def recount(
    rule: TotalsRule, live: Iterable[tuple[str, str, str | None, int | None]]
) -> dict[TotalKey, Total]:
    """The totals of ``live`` objects, (bucket, key, storage class, size) each, from scratch."""
    # Plain tuples and lists: a recount runs over every row of the table.
    sums: dict[tuple[str, str, str], list[int]] = {}
    for bucket, key, storage_class, size in live:
        kind = storage_class or DEFAULT_STORAGE_CLASS
        for prefix in rule.prefixes(key):
            found = sums.get((bucket, prefix, kind))
            if found is None:
                sums[bucket, prefix, kind] = [1, size or 0]
            else:
                found[0] += 1
                found[1] += size or 0
    return {TotalKey(*key): Total(*total) for key, total in sums.items()}


def corrections(
    expected: Mapping[TotalKey, Total], found: Mapping[TotalKey, Total]
) -> dict[TotalKey, Total]:
    """What to add to ``found`` to make it ``expected`` (totals missing from either are 0)."""
    keys = sorted({*expected, *found})
    fixes = {key: expected.get(key, Total()) - found.get(key, Total()) for key in keys}
    return {key: change for key, change in fixes.items() if change}
