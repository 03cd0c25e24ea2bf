from __future__ import annotations

import io
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from s3meta.domain.records import ObjectRecord
from s3meta.render import human_size, row_table, row_to_json, rows_table

SPEC_FIELDS = {
    "bucket",
    "key",
    "version_id",
    "size",
    "etag",
    "content_type",
    "last_modified",
    "storage_class",
    "metadata",
    "deleted",
    "sequencer",
    "updated_at",
}
EXTRA_FIELDS = {"event_name", "event_time", "deleted_at", "never_seen", "created_at"}
# Who and how of the last event (s3meta.domain.provenance).
WHO_FIELDS = {"principal_id", "source_ip_address", "request_id", "host_id", "configuration_id"}
# The rest of what HeadObject says (revision 0005).
HEAD_FIELDS = {
    "content_encoding",
    "replication_status",
    "checksum_type",
    "bucket_key_enabled",
    "headers",
}
# Shown in the row table only when set: most objects have none of them.
DETAIL_FIELDS = {
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
}
DETAILS: dict[str, Any] = {
    "checksum_algorithm": "SHA256",
    "checksum_value": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
    "server_side_encryption": "aws:kms",
    "sse_kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/abc",
    "object_lock_mode": "GOVERNANCE",
    "object_lock_retain_until": datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
    "object_lock_legal_hold": "ON",
    "restore_status": 'ongoing-request="true"',
    "parts_count": 3,
    "tags": {"team": "data", "env": "prod"},
}


def make_row(**overrides: Any) -> ObjectRecord:
    # Every field unset unless named here or in ``overrides``.
    values: dict[str, Any] = dict.fromkeys(field.name for field in fields(ObjectRecord))
    values |= {
        "bucket": "bucket-a",
        "object_key": "dir/file name+1.txt",
        "version_id": "v1",
        "size": 2048,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "content_type": "text/plain",
        "last_modified": datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC),
        "storage_class": "STANDARD",
        "user_metadata": {"owner": "zoë"},
        "sequencer": "0055AED6DCD90281E5",
        "event_name": "ObjectCreated:Put",
        "event_time": datetime(2026, 11, 20, 10, 15, 31, 123000, tzinfo=UTC),
        "is_deleted": False,
        "never_seen": False,
        "deleted_at": None,
        "created_at": datetime(2026, 11, 20, 10, 15, 32, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 20, 10, 15, 33, 456789, tzinfo=UTC),
    }
    values.update(overrides)
    return ObjectRecord(**values)


def render(renderable: Any) -> str:
    output = io.StringIO()
    Console(file=output, width=200).print(renderable)
    return output.getvalue()


def test_row_to_json_has_exactly_the_spec_fields_the_event_times_and_the_details() -> None:
    assert (
        set(row_to_json(make_row()))
        == SPEC_FIELDS | EXTRA_FIELDS | DETAIL_FIELDS | WHO_FIELDS | HEAD_FIELDS
    )


def test_row_to_json_puts_the_spec_fields_first() -> None:
    assert set(list(row_to_json(make_row()))[: len(SPEC_FIELDS)]) == SPEC_FIELDS


def test_row_to_json_maps_every_column() -> None:
    assert row_to_json(make_row()) == {
        "bucket": "bucket-a",
        "key": "dir/file name+1.txt",
        "version_id": "v1",
        "size": 2048,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "content_type": "text/plain",
        "last_modified": "2026-11-20T10:15:30.000000Z",
        "storage_class": "STANDARD",
        "metadata": {"owner": "zoë"},
        "deleted": False,
        "sequencer": "0055AED6DCD90281E5",
        "updated_at": "2026-11-20T10:15:33.456789Z",
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-20T10:15:31.123000Z",
        **dict.fromkeys(sorted(WHO_FIELDS)),
        "deleted_at": None,
        "deleted_by": None,
        "never_seen": False,
        "created_at": "2026-11-20T10:15:32.000000Z",
        "checksum_algorithm": None,
        "checksum_value": None,
        "server_side_encryption": None,
        "sse_kms_key_id": None,
        "object_lock_mode": None,
        "object_lock_retain_until": None,
        "object_lock_legal_hold": None,
        "restore_status": None,
        "parts_count": None,
        "tags": None,
        **dict.fromkeys(sorted(HEAD_FIELDS)),
    }


def test_row_to_json_maps_the_details() -> None:
    document = row_to_json(make_row(**DETAILS))

    assert {name: document[name] for name in DETAILS} == {
        **DETAILS,
        "object_lock_retain_until": "2031-01-02T03:04:05.000000Z",
    }
    assert json.loads(json.dumps(document))["tags"] == {"team": "data", "env": "prod"}


def test_tags_not_fetched_are_null_and_no_tags_an_empty_object() -> None:
    assert row_to_json(make_row(tags=None))["tags"] is None
    assert row_to_json(make_row(tags={}))["tags"] == {}


def test_row_to_json_returns_a_copy_of_the_tags() -> None:
    row = make_row(tags={"a": "1"})
    row_to_json(row)["tags"]["a"] = "2"
    assert row.tags == {"a": "1"}


def test_a_deleted_row_says_which_event_removed_it() -> None:
    row = make_row(is_deleted=True, deleted_by="ObjectRemoved:DeleteMarkerCreated")
    assert row_to_json(row)["deleted_by"] == "ObjectRemoved:DeleteMarkerCreated"
    assert "ObjectRemoved:DeleteMarkerCreated" in render(row_table(row))


def test_row_to_json_is_json_serialisable() -> None:
    text = json.dumps(row_to_json(make_row()), ensure_ascii=False)
    assert json.loads(text)["metadata"] == {"owner": "zoë"}


def test_a_deleted_row_with_nothing_known_has_nulls_and_empty_metadata() -> None:
    row = make_row(
        version_id=None,
        size=None,
        etag=None,
        content_type=None,
        last_modified=None,
        storage_class=None,
        user_metadata=None,
        sequencer=None,
        event_name=None,
        event_time=None,
        is_deleted=True,
        deleted_at=datetime(2026, 11, 21, tzinfo=UTC),
    )
    document = row_to_json(row)
    assert document["metadata"] == {}
    assert document["deleted"] is True
    assert document["deleted_at"] == "2026-11-21T00:00:00.000000Z"
    assert document["last_modified"] is None
    assert document["size"] is None


def test_an_unset_is_deleted_reads_as_not_deleted() -> None:
    assert row_to_json(make_row(is_deleted=None))["deleted"] is False


def test_row_to_json_returns_a_copy_of_the_metadata() -> None:
    row = make_row()
    row_to_json(row)["metadata"]["owner"] = "someone else"
    assert row.user_metadata == {"owner": "zoë"}


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (5 * 1024**3, "5.0 GiB"),
        (2 * 1024**7, "2048.0 EiB"),
    ],
)
def test_human_size_uses_binary_units(size: int | None, expected: str) -> None:
    assert human_size(size) == expected


def test_the_row_table_lists_every_field_with_its_value() -> None:
    text = render(row_table(make_row()))
    for field in SPEC_FIELDS | EXTRA_FIELDS:
        assert field in text
    assert "dir/file name+1.txt" in text
    assert "owner: zoë" in text
    assert "2048 (2.0 KiB)" in text


def test_the_row_table_leaves_out_details_that_are_not_set() -> None:
    text = render(row_table(make_row()))

    for field in DETAIL_FIELDS:
        assert field not in text


def test_the_row_table_shows_the_details_that_are_set() -> None:
    text = render(row_table(make_row(**DETAILS, deleted_by="ObjectRemoved:Delete")))

    for field in DETAIL_FIELDS:
        assert field in text
    assert "2031-01-02T03:04:05.000000Z" in text
    assert 'ongoing-request="true"' in text
    assert text.index("env: prod") < text.index("team: data")  # sorted by name


def test_the_row_table_shows_one_detail_without_the_others() -> None:
    text = render(row_table(make_row(server_side_encryption="AES256")))

    assert "server_side_encryption" in text
    assert "AES256" in text
    assert "sse_kms_key_id" not in text


def test_the_row_table_says_when_an_object_has_no_tags() -> None:
    lines = render(row_table(make_row(tags={}))).splitlines()

    assert [line.split() for line in lines if line.startswith("tags")] == [["tags", "(none)"]]


def test_tables_print_keys_literally_not_as_markup_or_emoji() -> None:
    key = "[red]alert[/red] :smile: [bold]"
    row = make_row(object_key=key, user_metadata={"note": "[link=x]y[/link]"})
    assert key in render(row_table(row))
    assert "note: [link=x]y[/link]" in render(row_table(row))
    assert key in render(rows_table([row]))


def test_the_rows_table_has_one_line_per_row_with_the_listed_columns() -> None:
    rows = [
        make_row(object_key="a.txt", size=10),
        make_row(object_key="b.txt", is_deleted=True, size=None, etag=None, last_modified=None),
    ]
    lines = render(rows_table(rows)).splitlines()
    header = lines[0].split()
    assert header == ["key", "size", "last", "modified", "storage", "class", "deleted", "etag"]
    assert lines[1].split() == [
        "a.txt",
        "10",
        "B",
        "2026-11-20",
        "10:15:30",
        "STANDARD",
        "d41d8cd98f00b204e9800998ecf8427e",
    ]
    assert lines[2].split() == ["b.txt", "-", "-", "STANDARD", "deleted", "-"]
