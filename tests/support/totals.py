"""What ``prefix_totals`` holds and what the rows say it should, read with plain SQL."""

from __future__ import annotations

import sqlalchemy as sa

from s3meta.domain.totals import Total, TotalKey, TotalsRule, recount


def _text(value: str | bytes) -> str:
    return bytes(value).decode() if isinstance(value, bytes) else value


def stored_totals(engine: sa.Engine, bucket: str) -> dict[TotalKey, Total]:
    """``bucket``'s totals, their shards summed, those of nothing left out."""
    query = sa.text(
        "SELECT prefix, storage_class, SUM(object_count), SUM(byte_count) FROM prefix_totals "
        "WHERE bucket = :bucket GROUP BY prefix, storage_class"
    )
    with engine.connect() as connection:
        rows = connection.execute(query, {"bucket": bucket}).all()
    found = {
        TotalKey(bucket, _text(prefix), kind): Total(int(objects), int(size))
        for prefix, kind, objects, size in rows
    }
    return {key: total for key, total in found.items() if total}


def counted_from_rows(engine: sa.Engine, bucket: str, rule: TotalsRule) -> dict[TotalKey, Total]:
    """The totals of ``bucket``'s live rows, by ``rule``."""
    query = sa.text(
        "SELECT object_key, storage_class, size FROM object_metadata "
        "WHERE bucket = :bucket AND is_deleted = :no AND never_seen = :no"
    )
    with engine.connect() as connection:
        rows = connection.execute(query, {"bucket": bucket, "no": False}).all()
    return recount(rule, [(bucket, _text(key), kind, size) for key, kind, size in rows])
