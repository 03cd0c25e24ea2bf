"""Object records as JSON (the interface fields other tools read first) and as tables for people.

``titled_table`` is the borderless, titled table style of the history and of ``s3meta stats``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from s3meta.domain.objects import to_utc
from s3meta.domain.provenance import FIELDS as PROVENANCE_FIELDS
from s3meta.domain.records import JournalRecord, ObjectRecord, VersionRecord
from s3meta.domain.terminal import printable
from s3meta.domain.times import iso_utc

if TYPE_CHECKING:
    from s3meta.operations.stats import Stats

_MISSING = "-"
_SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
# Most objects have no lock, restore or KMS key: a table full of "-" lines would bury the rest.
_SHOWN_WHEN_SET = frozenset(
    {
        "deleted_by",
        "checksum_algorithm",
        "checksum_value",
        "server_side_encryption",
        "sse_kms_key_id",
        "object_lock_mode",
        "object_lock_retain_until",
        "object_lock_legal_hold",
        "restore_status",
        "parts_count",
        "tags",
        "content_encoding",
        "replication_status",
        "checksum_type",
        "bucket_key_enabled",
        *PROVENANCE_FIELDS,
    }
)
# The journal table's columns of who and how, shown when an entry has one.
_PROVENANCE_HEADINGS = {
    "principal_id": "requester",
    "source_ip_address": "source ip",
    "request_id": "request id",
    "host_id": "x-amz-id-2",
    "configuration_id": "configuration",
}


def row_to_json(row: ObjectRecord) -> dict[str, Any]:
    """The row as a JSON-ready dict: the interface fields first, then event, times, details."""
    return {
        "bucket": row.bucket,
        "key": row.object_key,
        "version_id": row.version_id,
        "size": row.size,
        "etag": row.etag,
        "content_type": row.content_type,
        "last_modified": iso_utc(row.last_modified),
        "storage_class": row.storage_class,
        "metadata": dict(row.user_metadata or {}),
        "deleted": bool(row.is_deleted),
        "sequencer": row.sequencer,
        "updated_at": iso_utc(row.updated_at),
        "event_name": row.event_name,
        "event_time": iso_utc(row.event_time),
        **_provenance(row),
        "deleted_at": iso_utc(row.deleted_at),
        "deleted_by": row.deleted_by,
        # Deleted, and HeadObject never found the object: not an object at all.
        "never_seen": bool(row.never_seen),
        "created_at": iso_utc(row.created_at),
        "checksum_algorithm": row.checksum_algorithm,
        "checksum_value": row.checksum_value,
        "server_side_encryption": row.server_side_encryption,
        "sse_kms_key_id": row.sse_kms_key_id,
        "object_lock_mode": row.object_lock_mode,
        "object_lock_retain_until": iso_utc(row.object_lock_retain_until),
        "object_lock_legal_hold": row.object_lock_legal_hold,
        "restore_status": row.restore_status,
        "parts_count": row.parts_count,
        # null: never fetched; {}: fetched, none set.
        "tags": dict(row.tags) if row.tags is not None else None,
        "content_encoding": row.content_encoding,
        "replication_status": row.replication_status,
        "checksum_type": row.checksum_type,
        "bucket_key_enabled": row.bucket_key_enabled,
        # By HTTP name. null: the row was written before s3meta kept them (backfill it).
        "headers": dict(row.headers) if row.headers is not None else None,
    }


def version_to_json(version: VersionRecord, *, latest: bool) -> dict[str, Any]:
    """One version as ``row_to_json`` gives a row, and whether it is a delete marker and the
    key's latest version (ListObjectVersions's IsLatest)."""
    return {
        **row_to_json(version),
        "is_delete_marker": version.is_delete_marker,
        "is_latest": latest,
    }


def human_size(size: int | None) -> str:
    """``size`` bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.0 GiB``."""
    if size is None:
        return _MISSING
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _SIZE_UNITS:
        value /= 1024
        if value < 1024 or unit == _SIZE_UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def row_table(row: ObjectRecord) -> Table:
    """One row as a two-column field/value table."""
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in row_to_json(row).items():
        if value is None and name in _SHOWN_WHEN_SET:
            continue
        table.add_row(name, Text(_display(name, value)))
    return table


def rows_table(rows: Iterable[ObjectRecord]) -> Table:
    """Many rows, one line each: key, size, last modified, storage class, deleted, etag."""
    # Etag and the deleted flag come last so that a narrow terminal folds the etag rather
    # than the flag. No min_width: rich crops the whole table when minimums exceed the width.
    table = Table(box=None, padding=(0, 1, 0, 0), header_style="bold")
    table.add_column("key", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("last modified", no_wrap=True)
    table.add_column("storage class", overflow="fold")
    table.add_column("deleted", no_wrap=True)
    table.add_column("etag", overflow="fold")
    for row in rows:
        last_modified = row.last_modified
        table.add_row(
            _plain(row.object_key),
            _plain(human_size(row.size)),
            _plain(
                to_utc(last_modified).strftime("%Y-%m-%d %H:%M:%S") if last_modified else _MISSING
            ),
            _plain(row.storage_class or _MISSING),
            _plain(_deleted_flag(row)),
            _plain(row.etag or _MISSING),
        )
    return table


def _deleted_flag(row: ObjectRecord) -> str:
    if row.never_seen:
        return "never seen"
    return "deleted" if row.is_deleted else ""


def journal_to_json(entry: JournalRecord) -> dict[str, Any]:
    """One journal row as a JSON-ready dict, for ``s3meta show --history --json``."""
    return entry.to_json()


def _provenance(record: ObjectRecord | JournalRecord) -> dict[str, str | None]:
    """Who and how, by field name (``s3meta.domain.provenance``)."""
    return {name: getattr(record, name) for name in PROVENANCE_FIELDS}


def journal_table(entries: Iterable[JournalRecord], *, title: str | None = "History") -> Table:
    """A key's journal, one change per line, in the order given (oldest first from the reader)."""
    table = titled_table(title, gap=1)
    table.add_column("applied at", no_wrap=True)
    table.add_column("record type", no_wrap=True)
    table.add_column("event", overflow="fold")
    table.add_column("event time", no_wrap=True)
    table.add_column("sequencer", overflow="fold")
    table.add_column("version", overflow="fold")
    table.add_column("etag", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("task id", overflow="fold")
    entries = list(entries)
    # Requeues and backfills have none: a column only if some entry has a value.
    shown = [name for name in PROVENANCE_FIELDS if any(getattr(e, name) for e in entries)]
    for name in shown:
        table.add_column(_PROVENANCE_HEADINGS[name], overflow="fold")
    for entry in entries:
        table.add_row(
            _plain(iso_utc(entry.applied_at) or _MISSING),
            _plain(entry.record_type),
            _plain(entry.event_name or _MISSING),
            _plain(iso_utc(entry.event_time) or _MISSING),
            _plain(entry.sequencer or _MISSING),
            _plain(entry.version_id or _MISSING),
            _plain(entry.etag or _MISSING),
            _plain(human_size(entry.size)),
            _plain(entry.task_id or _MISSING),
            *(_plain(getattr(entry, name) or _MISSING) for name in shown),
        )
    return table


def titled_table(title: str | None, *, gap: int) -> Table:
    """A table without borders: a bold title on the left, bold headers, ``gap`` between columns."""
    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=None,
        padding=(0, gap, 0, 0),
        header_style="bold",
    )


def _display(name: str, value: Any) -> str:
    if value is None:
        return _MISSING
    if name == "metadata":
        return _pairs(value) or _MISSING
    if name == "headers":
        return _pairs(value) or "(none)"
    if name == "tags":
        # {} is a finding (fetched, none set), not a gap; unfetched tags never get here.
        return _pairs(value) or "(none)"
    if name == "size":
        return f"{value} ({human_size(value)})" if value >= 1024 else f"{value} B"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value))


def _pairs(mapping: Mapping[str, Any]) -> str:
    """One ``name: value`` line per item, each escaped (the line breaks are ours)."""
    return "\n".join(f"{printable(k)}: {printable(str(v))}" for k, v in sorted(mapping.items()))


def _plain(value: str) -> Text:
    # Keys and metadata are user data: as plain str, rich would read '[red]' as markup and
    # ':smile:' as an emoji code, and a terminal would obey their control characters.
    return Text(printable(value))


def stats_to_json(report: Stats) -> dict[str, Any]:
    """``s3meta stats --json`` and the API's GET /stats."""
    now = report.generated_at
    return {
        "generated_at": iso_utc(now),
        "bucket": report.bucket,
        "buckets": [
            {
                "bucket": row.bucket,
                "live": row.live,
                "deleted": row.deleted,
                "total": row.total,
                "never_seen": row.never_seen,
            }
            for row in report.buckets
        ],
        "attempts": report.attempts,
        "queues_unavailable": report.queues_unavailable,
        "queues": [
            {
                "role": queue.role,
                "name": queue.name,
                "exists": queue.depth is not None,
                **(
                    asdict(queue.depth)
                    if queue.depth
                    else dict.fromkeys(("visible", "in_flight", "delayed"))
                ),
                "oldest_sent_at": iso_utc(queue.oldest_sent_at),
                "oldest_age_seconds": _rounded(queue.oldest_age(now)),
                "sampled": queue.sampled,
            }
            for queue in report.queues
        ],
    }


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
