"""Who and how per change: from the event, through the task's arguments, onto the journal
entry and the record (``s3meta.domain.provenance``), with the in-memory store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from s3meta.domain.events import parse_body
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.provenance import FIELDS, WIDTHS, clean
from s3meta.domain.task_call import event_info, task_kwargs
from s3meta.domain.transitions import Change
from s3meta.memory import MemoryStore
from s3meta.render import journal_table, journal_to_json, row_to_json
from tests.support.samples import SAMPLE_EVENTS

# Beside the shared samples (which must stay as ../shared/events has them).
PROVENANCE_SAMPLES = SAMPLE_EVENTS.parent / "provenance"

BUCKET, KEY = "uploads-demo", "k"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ALICE: dict[str, Any] = {
    "principal_id": "AWS:AROAEXAMPLEROLEID:alice@example.com",
    "source_ip_address": "2001:db8::17",
    "request_id": "8F2C4E1B9A7D3E60",
    "host_id": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    "configuration_id": "s3meta-uploads",
}


def _record(**overrides: Any) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventName": "ObjectCreated:Put",
        "eventTime": "2026-11-20T10:00:00Z",
        "userIdentity": {"principalId": ALICE["principal_id"]},
        "requestParameters": {"sourceIPAddress": ALICE["source_ip_address"]},
        "responseElements": {
            "x-amz-request-id": ALICE["request_id"],
            "x-amz-id-2": ALICE["host_id"],
        },
        "s3": {
            "configurationId": ALICE["configuration_id"],
            "bucket": {"name": BUCKET},
            "object": {"key": KEY, "sequencer": "0A"},
        },
        **overrides,
    }


def test_an_s3_record_gives_the_requester_source_ip_request_ids_and_configuration() -> None:
    (event,) = parse_body(json.dumps({"Records": [_record()]})).events
    assert {name: getattr(event, name) for name in FIELDS} == ALICE


@pytest.mark.parametrize(
    "overrides",
    [
        {"userIdentity": "AWS:AIDA"},
        {"userIdentity": {"principalId": 7}},
        {"responseElements": None},
        {"requestParameters": {"sourceIPAddress": "9" * (WIDTHS["source_ip_address"] + 1)}},
    ],
)
def test_an_unusable_who_or_how_field_is_left_out_and_the_event_kept(
    overrides: dict[str, Any],
) -> None:
    parsed = parse_body(json.dumps({"Records": [_record(**overrides)]}))
    assert parsed.rejected is None
    (event,) = parsed.events
    dropped = [name for name in FIELDS if getattr(event, name) is None]
    assert len(dropped) in (1, 2)  # responseElements holds two


def test_an_eventbridge_event_names_no_host_id_and_no_configuration() -> None:
    (event,) = parse_body((SAMPLE_EVENTS / "eventbridge-deleted.json").read_text()).events
    assert (event.principal_id, event.request_id) == ("123456789012", "0BH729840619AG5K")
    assert (event.host_id, event.configuration_id) == (None, None)


def test_an_assumed_roles_session_and_an_ipv6_source_are_kept_whole() -> None:
    body = (PROVENANCE_SAMPLES / "delete-marker-by-assumed-role.json").read_text()
    (event,) = parse_body(body).events
    assert {name: getattr(event, name) for name in FIELDS} == ALICE


def test_who_and_how_travel_in_the_tasks_arguments_and_come_back_checked() -> None:
    body = (PROVENANCE_SAMPLES / "delete-marker-by-assumed-role.json").read_text()
    (event,) = parse_body(body).events
    info = event_info(task_kwargs(event))
    assert {name: getattr(info, name) for name in FIELDS} == {
        name: getattr(event, name) for name in FIELDS
    }
    assert event_info({"principal_id": ["not", "text"]}).principal_id is None


def test_clean_keeps_text_that_fits_its_column_only() -> None:
    assert clean("request_id", "A" * WIDTHS["request_id"]) == "A" * WIDTHS["request_id"]
    assert clean("request_id", "A" * (WIDTHS["request_id"] + 1)) is None
    assert clean("request_id", "") is None
    assert clean("request_id", "\ud800") is None


def _change(event: EventInfo, size: int, task: str, *, live: bool = True) -> Change:
    found = ObjectState(BUCKET, KEY, size=size, etag=f"e{size}", last_modified=T0)
    return Change(BUCKET, KEY, found if live else None, event, T0 + timedelta(seconds=1), task)


def test_each_journal_entry_says_who_and_how_and_the_row_keeps_the_last_events() -> None:
    store = MemoryStore()
    bob: dict[str, Any] = {
        **ALICE,
        "principal_id": "AWS:AIDABOB",
        "request_id": "REQ2",
        "host_id": None,
    }
    store.apply(_change(EventInfo("ObjectCreated:Put", T0, "0A", **ALICE), 1, "t1"))
    store.apply(_change(EventInfo("ObjectCreated:Put", T0, "0B", **bob), 2, "t2"))
    store.apply(_change(EventInfo(), 3, "t3"))  # a requeue: no event, no who

    entries = store.history(BUCKET, KEY)
    assert [entry.principal_id for entry in entries] == [ALICE["principal_id"], "AWS:AIDABOB", None]
    assert [entry.request_id for entry in entries] == [ALICE["request_id"], "REQ2", None]
    record = store.get(BUCKET, KEY)
    assert record is not None
    # The requeue keeps the last event's who and how, as it keeps its other fields.
    assert {name: getattr(record, name) for name in FIELDS} == bob
    assert row_to_json(record)["principal_id"] == "AWS:AIDABOB"
    assert journal_to_json(entries[0])["host_id"] == ALICE["host_id"]


def test_the_history_table_shows_who_only_when_an_entry_knows() -> None:
    store = MemoryStore()
    store.apply(_change(EventInfo(), 1, "t1"))
    headers = [column.header for column in journal_table(store.history(BUCKET, KEY)).columns]
    assert "requester" not in headers
    store.apply(_change(EventInfo("ObjectCreated:Put", T0, "0A", **ALICE), 2, "t2"))
    headers = [column.header for column in journal_table(store.history(BUCKET, KEY)).columns]
    assert {"requester", "source ip", "request id", "x-amz-id-2", "configuration"} <= set(headers)


def test_a_removal_found_after_its_event_keeps_the_events_who_and_how() -> None:
    store = MemoryStore()
    removal = EventInfo("ObjectRemoved:Delete", T0 + timedelta(seconds=5), "0B", **ALICE)
    store.apply(_change(removal, 1, "t1", live=False))
    store.apply(_change(EventInfo("ObjectCreated:Put", T0, "0A"), 1, "t2", live=False))
    (entry,) = store.history(BUCKET, KEY)
    assert (entry.record_type, entry.principal_id) == ("DELETE", ALICE["principal_id"])
