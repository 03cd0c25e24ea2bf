"""The change feed's pure rules (``s3meta.domain.changes``) and its message schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import s3meta
from s3meta.config import load_settings
from s3meta.domain.changes import (
    SCHEMA_VERSION,
    PendingChange,
    TargetKind,
    change_message,
    group_id,
    key_hash,
    next_request,
    owned,
    parse_target,
)
from s3meta.domain.records import JournalRecord
from s3meta.errors import ConfigError

SCHEMA_FILE = Path(s3meta.__file__).parent / "schemas" / f"change-v{SCHEMA_VERSION}.json"
APPLIED = datetime(2026, 12, 3, 11, 0, 0, 123456, tzinfo=UTC)


def entry(key: str = "k", bucket: str = "b-1", **fields: Any) -> JournalRecord:
    values: dict[str, object] = {
        "bucket": bucket,
        "object_key": key,
        "record_type": "CREATE",
        "version_id": None,
        "etag": '"e"',
        "size": 3,
        "sequencer": "0A",
        "event_name": "ObjectCreated:Put",
        "event_time": APPLIED,
        "applied_at": APPLIED,
        "task_id": "t-1",
    }
    values.update(fields)
    return JournalRecord(**values)  # type: ignore[arg-type]


def pending(outbox_id: int, key: str) -> PendingChange:
    return PendingChange(outbox_id, outbox_id * 10, entry(key))


def schema() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(SCHEMA_FILE.read_text())
    return loaded


@pytest.mark.parametrize(
    ("value", "kind", "name", "fifo"),
    [
        ("arn:aws:sns:eu-west-1:123456789012:changes", TargetKind.SNS, "changes", False),
        ("arn:aws:sns:us-east-1:123456789012:changes.fifo", TargetKind.SNS, "changes.fifo", True),
        ("arn:aws:sqs:us-east-1:123456789012:feed", TargetKind.SQS, "feed", False),
        ("https://sqs.us-east-1.amazonaws.com/123456789012/feed.fifo", TargetKind.SQS,
         "feed.fifo", True),
        ("http://127.0.0.1:5000/123456789012/feed", TargetKind.SQS, "feed", False),
        ("feed-queue", TargetKind.SQS, "feed-queue", False),
    ],
)  # fmt: skip
def test_each_accepted_form_of_the_target_names_its_kind_and_fifo(
    value: str, kind: TargetKind, name: str, fifo: bool
) -> None:
    target = parse_target(value)

    assert (target.kind, target.name, target.fifo) == (kind, name, fifo)


def test_an_sqs_arn_keeps_the_queue_owner_and_a_url_the_url() -> None:
    assert parse_target("arn:aws:sqs:us-east-1:123456789012:feed").account == "123456789012"
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/feed"
    assert parse_target(url).url == url


@pytest.mark.parametrize(
    "value",
    ["arn:aws:s3:::bucket", "arn:aws:sns:us-east-1:12:x", "https://example.com/", "a b", "x" * 81],
)
def test_a_bad_change_topic_is_one_line_naming_the_variable_and_the_forms(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(change_topic=value)

    message = str(caught.value)
    assert "S3META_CHANGE_TOPIC" in message
    assert "SNS topic ARN" in message
    assert "SQS queue name" in message
    assert "\n" not in message


def test_the_message_of_a_journal_entry_follows_the_schema_and_says_its_version() -> None:
    message = change_message(7, entry("dir/ké y", version_id="v1"))

    jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(message)
    assert message["schema"] == "s3meta.change/v1"
    assert message["version"] == 1
    assert message["sequence"] == 7
    assert message["key"] == "dir/ké y"
    assert message["applied_at"] == "2026-12-03T11:00:00.123456Z"


@given(
    key=st.text(min_size=1, max_size=50),
    record_type=st.sampled_from(["CREATE", "UPDATE_METADATA", "DELETE"]),
    size=st.none() | st.integers(min_value=0, max_value=2**62),
    journal_id=st.integers(min_value=1, max_value=2**62),
    nulls=st.booleans(),
)
def test_every_message_the_feed_builds_follows_the_schema(
    key: str, record_type: str, size: int | None, journal_id: int, nulls: bool
) -> None:
    optional: dict[str, Any] = (
        {"etag": None, "sequencer": None, "event_name": None, "event_time": None, "task_id": None}
        if nulls
        else {}
    )
    message = change_message(journal_id, entry(key, record_type=record_type, size=size, **optional))

    jsonschema.Draft202012Validator(schema()).validate(message)


def test_the_schema_file_is_a_valid_schema_that_refuses_an_unknown_version() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    message = change_message(1, entry())

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**message, "version": 2}, schema())


def test_a_fifo_group_is_the_bucket_and_key_cut_to_128_characters() -> None:
    assert group_id(pending(1, "a/b")) == "b-1/a/b"
    assert len(group_id(pending(1, "k" * 500))) == 128


def test_the_key_hash_is_stable_and_tells_keys_apart() -> None:
    assert key_hash("b", "k") == key_hash("b", "k")
    assert key_hash("b", "k") != key_hash("b", "k2")
    assert -(2**63) <= key_hash("b", "k") < 2**63


def test_a_request_takes_one_change_per_key_in_outbox_order_up_to_its_limit() -> None:
    changes = [pending(1, "a"), pending(2, "a"), pending(3, "b"), pending(4, "c"), pending(5, "a")]

    request, rest = next_request(changes, set(), limit=2)

    assert [c.outbox_id for c in request] == [1, 3]
    assert [c.outbox_id for c in rest] == [2, 4, 5]


def test_a_blocked_key_leaves_the_round_with_all_its_changes() -> None:
    changes = [pending(1, "a"), pending(2, "b"), pending(3, "a")]

    request, rest = next_request(changes, {("b-1", "a")})

    assert [c.outbox_id for c in request] == [2]
    assert rest == []


@given(st.lists(st.sampled_from("abcd"), max_size=40), st.integers(min_value=1, max_value=10))
def test_requests_send_each_keys_changes_in_order_and_all_of_them(
    keys: list[str], limit: int
) -> None:
    pending_changes = [pending(n + 1, key) for n, key in enumerate(keys)]
    sent: list[PendingChange] = []
    rest = pending_changes
    for _ in range(len(keys) + 1):
        request, rest = next_request(rest, set(), limit)
        assert len(request) <= limit
        assert len({c.key for c in request}) == len(request)
        sent += request
        if not rest:
            break

    assert sorted(c.outbox_id for c in sent) == [c.outbox_id for c in pending_changes]
    for key in set(keys):
        ids = [c.outbox_id for c in sent if c.key == ("b-1", key)]
        assert ids == sorted(ids)


def test_a_relay_owns_a_keys_changes_only_before_its_earliest_row_held_elsewhere() -> None:
    claimed = [pending(3, "a"), pending(4, "b"), pending(6, "a"), pending(9, "c")]
    elsewhere = {key_hash("b-1", "a"): 5, key_hash("b-1", "c"): 8}

    assert owned(claimed, elsewhere) == [3, 4]
