"""``s3meta.domain.events``: every body the events queue may carry, parsed or rejected."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3meta.domain.event_names import is_known_event_name
from s3meta.domain.events import (
    SUPPORTED_MAJOR_VERSION,
    ObjectEvent,
    ParsedMessage,
    parse_body,
)
from s3meta.domain.task_call import task_kwargs
from tests.support.samples import SAMPLE_EVENTS, SHARED_EVENTS

# The samples are part of the contract: a missing file must fail, not skip.
SAMPLES = SAMPLE_EVENTS

# Who and how, as the S3 samples carry them (``userIdentity`` ... ``configurationId``).
S3_WHO: dict[str, Any] = {
    "principal_id": "AWS:AIDAEXAMPLE",
    "source_ip_address": "203.0.113.10",
    "request_id": "C3D13FE58DE4C810",
    "host_id": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    "configuration_id": "s3meta-uploads",
}

PUT_EVENT = ObjectEvent(
    bucket="uploads-demo",
    key="photos/2026/summer trip+beach/\u00fc.jpg",
    event_name="ObjectCreated:Put",
    event_time="2026-11-20T10:15:30.123Z",
    version_id="096fKKXTRTtl3on89fVO.nfljtsv6qko",
    size=1048576,
    etag="d41d8cd98f00b204e9800998ecf8427e",
    **S3_WHO,
    sequencer="0055AED6DCD90281E5",
)

GOOD_SAMPLES: dict[str, tuple[str, tuple[ObjectEvent, ...]]] = {
    "put.json": ("s3", (PUT_EVENT,)),
    "multipart.json": (
        "s3",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="videos/raw/clip 01.mp4",  # raw "clip+01.mp4": '+' is a space
                event_name="ObjectCreated:CompleteMultipartUpload",
                event_time="2026-11-20T10:15:30.123Z",
                size=5 * 1024**3,
                etag="3858f62230ac3c915f300c664312c11f-640",
                **S3_WHO,
                sequencer="0062B3C1A7D0E2F4A1",
            ),
        ),
    ),
    "multi-record.json": (
        "s3",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="docs/a.txt",
                event_name="ObjectCreated:Copy",
                event_time="2026-11-20T10:15:30.123Z",
                size=12,
                etag="6f5902ac237024bdd0c176cb93063dc4",
                **S3_WHO,
                sequencer="0055AED6DCD9029200",
            ),
            ObjectEvent(
                bucket="uploads-demo",
                key="docs/b c.txt",  # raw "docs/b+c.txt"
                event_name="ObjectCreated:Post",
                event_time="2026-11-20T10:15:30.123Z",
                size=7,
                etag="5d41402abc4b2a76b9719d911017c592",
                **S3_WHO,
                sequencer="0055AED6DCD9029201",
            ),
        ),
    ),
    "delete.json": (
        "s3",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="reports/q3.pdf",
                event_name="ObjectRemoved:Delete",
                event_time="2026-11-20T10:15:30.123Z",
                **S3_WHO,
                sequencer="0055AED6DCD90290AA",
            ),
        ),
    ),
    "delete-marker.json": (
        "s3",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="photos/2026/summer trip+beach/\u00fc.jpg",
                event_name="ObjectRemoved:DeleteMarkerCreated",
                event_time="2026-11-20T10:15:30.123Z",
                # Holds a '+': version ids are not form-encoded, so it must stay a '+'.
                version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
                **S3_WHO,
                sequencer="0055AED6DCD9028F10",
            ),
        ),
    ),
    "lifecycle-expiration.json": (
        "s3",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="tmp/session-42.log",
                event_name="LifecycleExpiration:Delete",
                event_time="2026-11-20T10:15:30.123Z",
                **S3_WHO,
                sequencer="0055AED6DCD90291BB",
            ),
        ),
    ),
    "sns-envelope.json": ("sns", (PUT_EVENT,)),
    "eventbridge-created.json": (
        "eventbridge",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="invoices/2026/11/inv-0007.pdf",
                event_name="ObjectCreated:Put",
                event_time="2026-11-20T10:16:00Z",
                version_id="Z7k0Tb5k2c3d4e5f6g7h8i9j0",
                size=20480,
                etag="7a3b3e2f1c0d4e5f6a7b8c9d0e1f2a3b",
                principal_id="123456789012",
                source_ip_address="203.0.113.15",
                request_id="N4N7GDK58NMKJ12R",
                sequencer="00617F08299329D189",
            ),
        ),
    ),
    "eventbridge-deleted.json": (
        "eventbridge",
        (
            ObjectEvent(
                bucket="uploads-demo",
                key="invoices/2026/11/inv-0007.pdf",
                event_name="ObjectRemoved:Delete",
                event_time="2026-11-20T10:17:00Z",
                principal_id="123456789012",
                source_ip_address="203.0.113.15",
                request_id="0BH729840619AG5K",
                sequencer="00617F0829932A0000",
            ),
        ),
    ),
}

BAD_SAMPLES: dict[str, tuple[str, str]] = {
    "bad-future-version.json": (
        "s3",
        "1 of 1 record unusable: record 1: eventVersion '3.0' has major version 3; "
        "only 2.x is supported",
    ),
    "bad-missing-records.json": (
        "unknown",
        "JSON object is neither an S3 notification, an SNS envelope nor an EventBridge event "
        "from aws.s3 (keys: 'Message', 'note')",
    ),
    "bad-not-json.txt": ("unknown", "body is not JSON: Expecting value: line 1 column 1 (char 0)"),
    "bad-record.json": ("s3", "1 of 1 record unusable: record 1: s3.bucket.name is missing"),
}


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


MISSING = object()


def s3_record(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid S3 event record; ``changes`` maps dotted paths to new values (or ``MISSING``)."""
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-11-20T10:15:30.123Z",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": "bucket-a"},
            "object": {
                "key": "dir/file.txt",
                "size": 5,
                "eTag": "5d41402abc4b2a76b9719d911017c592",
                "sequencer": "0055AED6DCD90281E5",
            },
        },
    }
    return changed(record, changes or {})


def eventbridge_event(changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A valid EventBridge "Object Created" event, with ``changes`` as in ``s3_record``."""
    event: dict[str, Any] = {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "time": "2026-11-20T10:16:00Z",
        "detail": {
            "bucket": {"name": "bucket-a"},
            "object": {"key": "dir/file.txt", "size": 5, "etag": "abc", "sequencer": "0A"},
            "reason": "PutObject",
        },
    }
    return changed(event, changes or {})


def changed(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(document)
    for path, value in changes.items():
        *parents, last = path.split(".")
        target = result
        for name in parents:
            target = target[name]
        if value is MISSING:
            target.pop(last, None)
        else:
            target[last] = value
    return result


def s3_body(*records: object) -> str:
    return json.dumps({"Records": list(records)})


def sns_body(message: str, kind: str = "Notification") -> str:
    return json.dumps(
        {
            "Type": kind,
            "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:s3meta-uploads",
            "Message": message,
        }
    )


def only_event(parsed: ParsedMessage) -> ObjectEvent:
    assert parsed.rejected is None, parsed.rejected
    assert len(parsed.events) == 1
    return parsed.events[0]


def assert_well_formed(parsed: ParsedMessage) -> None:
    """What the bridge relies on, whatever the body was."""
    assert isinstance(parsed, ParsedMessage)
    if parsed.test_event:
        assert parsed.events == ()
        assert parsed.rejected is None
    elif parsed.rejected is None:
        assert parsed.events
        assert parsed.details == ()
    for reason in (parsed.rejected, *parsed.details):
        if reason is not None:
            assert 0 < len(reason) <= 300
            # Printable excludes newlines, control characters and lone surrogates.
            assert reason.isprintable(), reason
    for event in parsed.events:
        assert isinstance(event.key, str)
        assert 0 < len(event.key.encode("utf-8")) <= 1024
        assert event.bucket
        assert event.bucket.encode("utf-8")
        assert event.event_name
        assert event.event_name.encode("utf-8")
        assert event.size is None or (type(event.size) is int and event.size >= 0)
        json.dumps(task_kwargs(event), ensure_ascii=False).encode("utf-8")


# The samples


def test_the_samples_directory_holds_exactly_the_files_these_tests_cover() -> None:
    names = {path.name for path in SAMPLES.iterdir()}
    assert names == {"README.md", "test-event.json", *GOOD_SAMPLES, *BAD_SAMPLES}


@pytest.mark.parametrize("name", sorted(GOOD_SAMPLES))
def test_each_usable_sample_gives_exactly_the_events_the_readme_describes(name: str) -> None:
    source, events = GOOD_SAMPLES[name]
    assert parse_body(sample(name)) == ParsedMessage(events=events, source=source)


def test_the_test_event_sample_is_acknowledged_without_events() -> None:
    assert parse_body(sample("test-event.json")) == ParsedMessage(test_event=True, source="s3")


@pytest.mark.parametrize("name", sorted(BAD_SAMPLES))
def test_each_bad_sample_is_rejected_with_a_specific_reason_and_no_events(name: str) -> None:
    source, reason = BAD_SAMPLES[name]
    parsed = parse_body(sample(name))
    assert parsed.events == ()
    assert parsed.rejected == reason
    assert parsed.source == source
    assert not parsed.test_event


def test_the_future_version_sample_names_the_version_in_its_single_detail_line() -> None:
    parsed = parse_body(sample("bad-future-version.json"))
    assert parsed.details == (
        "record 1: eventVersion '3.0' has major version 3; only 2.x is supported",
    )
    assert SUPPORTED_MAJOR_VERSION == 2


# S3 records: what is accepted, and how it is read


@pytest.mark.parametrize(
    ("changes", "attribute", "expected"),
    [
        ({"s3.object.key": "%2B"}, "key", "+"),
        ({"s3.object.key": "+"}, "key", " "),
        ({"s3.object.key": "a+b%2Bc"}, "key", "a b+c"),
        ({"s3.object.key": "dir%2Ffile"}, "key", "dir/file"),
        ({"s3.object.key": "100%25"}, "key", "100%"),
        ({"s3.object.key": "caf%C3%A9/%E6%97%A5.txt"}, "key", "caf\u00e9/\u65e5.txt"),
        ({"s3.object.key": "caf\u00e9"}, "key", "caf\u00e9"),
        ({"s3.object.key": "k" * 1024}, "key", "k" * 1024),
        ({"s3.object.key": "%C3%A9" * 512}, "key", "\u00e9" * 512),
        ({"eventName": "s3:ObjectCreated:Put"}, "event_name", "ObjectCreated:Put"),
        ({"eventName": "ObjectTagging:Put"}, "event_name", "ObjectTagging:Put"),
        ({"eventName": "Brand:NewThing"}, "event_name", "Brand:NewThing"),
        ({"eventVersion": "2.2"}, "event_name", "ObjectCreated:Put"),
        ({"eventVersion": "2.3"}, "event_name", "ObjectCreated:Put"),
        ({"eventVersion": "2.9"}, "event_name", "ObjectCreated:Put"),
        ({"eventVersion": "2.10"}, "event_name", "ObjectCreated:Put"),
        ({"eventTime": MISSING}, "event_time", None),
        ({"s3.object.eTag": '"abc"'}, "etag", "abc"),
        ({"s3.object.eTag": MISSING}, "etag", None),
        ({"s3.object.versionId": "a+b%2F"}, "version_id", "a+b%2F"),
        ({"s3.object.versionId": "null"}, "version_id", "null"),
        ({"s3.object.versionId": ""}, "version_id", None),
        ({"s3.object.size": 0}, "size", 0),
        ({"s3.object.size": None}, "size", None),
        ({"s3.object.size": MISSING}, "size", None),
        ({"s3.object.sequencer": "00ff"}, "sequencer", "00ff"),
        ({"s3.object.sequencer": MISSING}, "sequencer", None),
    ],
)
def test_a_record_field_is_read_as_s3_means_it(
    changes: dict[str, Any], attribute: str, expected: object
) -> None:
    event = only_event(parse_body(s3_body(s3_record(changes))))
    assert getattr(event, attribute) == expected


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"eventVersion": "3.0"}, "eventVersion '3.0' has major version 3; only 2.x is supported"),
        ({"eventVersion": "1.0"}, "eventVersion '1.0' has major version 1; only 2.x is supported"),
        ({"eventVersion": "2"}, "eventVersion '2' is not MAJOR.MINOR"),
        ({"eventVersion": "2.1.0"}, "eventVersion '2.1.0' is not MAJOR.MINOR"),
        ({"eventVersion": "v2.1"}, "eventVersion 'v2.1' is not MAJOR.MINOR"),
        ({"eventVersion": "\u0662.1"}, "eventVersion '\u0662.1' is not MAJOR.MINOR"),
        ({"eventVersion": 2.1}, "eventVersion must be a string, got number"),
        ({"eventVersion": MISSING}, "eventVersion is missing"),
        ({"eventName": MISSING}, "eventName is missing"),
        ({"eventName": "s3:"}, "eventName is empty"),
        ({"eventName": ["ObjectCreated:Put"]}, "eventName must be a string, got array"),
        ({"s3": "x"}, "s3 must be a JSON object, got string"),
        ({"s3.bucket": MISSING}, "s3.bucket is missing"),
        ({"s3.bucket.name": MISSING}, "s3.bucket.name is missing"),
        ({"s3.bucket.name": ""}, "s3.bucket.name is empty"),
        ({"s3.bucket.name": 7}, "s3.bucket.name must be a string, got number"),
        (
            {"s3.bucket.name": "Bad_Bucket!!"},
            "s3.bucket.name: invalid bucket name 'Bad_Bucket!!': a bucket name is 3-63",
        ),
        ({"s3.bucket.name": "ab"}, "s3.bucket.name: invalid bucket name 'ab'"),
        ({"s3.object": MISSING}, "s3.object is missing"),
        ({"s3.object.key": MISSING}, "s3.object.key is missing"),
        ({"s3.object.key": ""}, "s3.object.key is empty"),
        ({"s3.object.key": "%FF"}, "s3.object.key '%FF' has percent-escapes that are not UTF-8"),
        ({"s3.object.key": "a%C3"}, "s3.object.key 'a%C3' has percent-escapes that are not UTF-8"),
        ({"s3.object.key": "%ED%A0%80"}, "s3.object.key '%ED%A0%80' has percent-escapes that"),
        ({"s3.object.key": "\ud800"}, "s3.object.key is not valid UTF-8 text"),
        ({"s3.object.key": "k" * 1025}, "s3.object.key is 1025 bytes of UTF-8; S3 allows at most"),
        ({"s3.object.key": "%C3%A9" * 512 + "k"}, "s3.object.key is 1025 bytes of UTF-8"),
        ({"s3.object.size": True}, "s3.object.size must be an integer, got boolean"),
        ({"s3.object.size": False}, "s3.object.size must be an integer, got boolean"),
        ({"s3.object.size": -1}, "s3.object.size must not be negative, got -1"),
        ({"s3.object.size": "5"}, "s3.object.size must be an integer, got string"),
        ({"s3.object.size": 5.0}, "s3.object.size must be an integer, got number"),
        ({"s3.object.sequencer": "xyz"}, "s3.object.sequencer 'xyz' is not hexadecimal"),
        ({"s3.object.sequencer": "0x1F"}, "s3.object.sequencer '0x1F' is not hexadecimal"),
        ({"s3.object.sequencer": "00 FF"}, "s3.object.sequencer '00 FF' is not hexadecimal"),
        ({"s3.object.sequencer": ""}, "s3.object.sequencer '' is not hexadecimal"),
        ({"s3.object.sequencer": 255}, "s3.object.sequencer must be a string, got number"),
        ({"s3.object.eTag": 5}, "s3.object.eTag must be a string, got number"),
        ({"s3.object.versionId": 5}, "s3.object.versionId must be a string, got number"),
        ({"eventTime": "yesterday"}, "eventTime 'yesterday' is not an ISO 8601 timestamp"),
        ({"eventTime": 1700000000}, "eventTime must be a string, got number"),
    ],
)
def test_a_record_that_cannot_be_used_is_rejected_with_its_reason(
    changes: dict[str, Any], detail: str
) -> None:
    parsed = parse_body(s3_body(s3_record(changes)))
    assert parsed.events == ()
    assert parsed.source == "s3"
    assert len(parsed.details) == 1
    assert parsed.details[0].startswith(f"record 1: {detail}")
    assert parsed.rejected == f"1 of 1 record unusable: {parsed.details[0]}"
    assert_well_formed(parsed)


def test_good_records_are_kept_in_order_when_another_record_is_rejected() -> None:
    first = s3_record({"s3.object.key": "one"})
    future = s3_record({"eventVersion": "3.0"})
    third = s3_record({"s3.object.key": "three"})
    parsed = parse_body(s3_body(first, future, third))
    assert [event.key for event in parsed.events] == ["one", "three"]
    assert parsed.rejected == (
        "1 of 3 records unusable: record 2: eventVersion '3.0' has major version 3; "
        "only 2.x is supported"
    )
    assert parsed.details == (
        "record 2: eventVersion '3.0' has major version 3; only 2.x is supported",
    )


def test_every_bad_record_gets_its_own_detail_line_when_all_are_bad() -> None:
    parsed = parse_body(s3_body("nonsense", s3_record({"s3.object.sequencer": "zz"})))
    assert parsed.events == ()
    assert parsed.details == (
        "record 1: not a JSON object (got string)",
        "record 2: s3.object.sequencer 'zz' is not hexadecimal",
    )
    assert parsed.rejected == "2 of 2 records unusable: " + "; ".join(parsed.details)


def test_many_records_give_many_events_in_their_order() -> None:
    keys = [f"k{number}" for number in range(25)]
    parsed = parse_body(s3_body(*(s3_record({"s3.object.key": key}) for key in keys)))
    assert parsed.rejected is None
    assert [event.key for event in parsed.events] == keys


# Whole bodies that cannot be used


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "body is not JSON: Expecting value: line 1 column 1 (char 0)"),
        ("{", "body is not JSON: "),
        ("[]", "body is JSON but not an object (got array)"),
        ("null", "body is JSON but not an object (got null)"),
        ('"Records"', "body is JSON but not an object (got string)"),
        ("42", "body is JSON but not an object (got number)"),
        ("{}", "JSON object is neither an S3 notification"),
        ('{"Records": []}', "Records is an empty list"),
        ('{"Records": null}', "Records must be a non-empty list, got null"),
        ('{"Records": {"0": {}}}', "Records must be a non-empty list, got object"),
        ('{"Event": "s3:SomethingElse"}', "JSON object is neither an S3 notification"),
        ('{"Type": "Notice", "Message": "{}"}', "JSON object is neither an S3 notification"),
        ("[" * 100_000, "body is not usable JSON: it is nested too deeply"),
        ('{"Records": [' + "1" * 5000 + "]}", "body is not usable JSON: Exceeds the limit"),
        ("\ud800", "body is not valid UTF-8 text"),
    ],
)
def test_a_body_that_is_not_a_notification_is_rejected_with_a_specific_reason(
    body: str, reason: str
) -> None:
    parsed = parse_body(body)
    assert parsed.events == ()
    assert parsed.rejected is not None
    assert parsed.rejected.startswith(reason)
    assert_well_formed(parsed)


def test_quoted_input_in_a_reason_is_cut_short_and_kept_on_one_line() -> None:
    parsed = parse_body(s3_body(s3_record({"eventVersion": "3.0\n" + "9" * 5000})))
    assert parsed.rejected is not None
    assert parsed.rejected.startswith("1 of 1 record unusable: record 1: eventVersion '3.0\\n999")
    assert len(parsed.rejected) <= 300
    assert_well_formed(parsed)


def test_an_object_of_unknown_shape_is_named_by_at_most_eight_of_its_keys() -> None:
    parsed = parse_body(json.dumps({f"k{number}": number for number in range(20)}))
    assert parsed.rejected is not None
    assert parsed.rejected.endswith(
        "(keys: 'k0', 'k1', 'k10', 'k11', 'k12', 'k13', 'k14', 'k15', ...)"
    )


# S3's test event and SNS envelopes


def test_a_test_event_needs_no_service_field() -> None:
    assert parse_body('{"Event": "s3:TestEvent"}') == ParsedMessage(test_event=True, source="s3")


def test_an_sns_envelope_around_a_test_event_is_a_test_event_from_sns() -> None:
    parsed = parse_body(sns_body(sample("test-event.json")))
    assert parsed == ParsedMessage(test_event=True, source="sns")


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("SubscriptionConfirmation", "an operator must confirm the subscription"),
        ("UnsubscribeConfirmation", "the subscription was removed"),
    ],
)
def test_an_sns_confirmation_is_rejected_for_an_operator_to_act_on(
    kind: str, fragment: str
) -> None:
    parsed = parse_body(sns_body("You have chosen to subscribe to the topic", kind))
    assert parsed.events == ()
    assert parsed.source == "sns"
    assert parsed.rejected is not None
    assert parsed.rejected.startswith(f"SNS {kind}: nothing to index")
    assert fragment in parsed.rejected


def test_an_sns_envelope_inside_an_sns_envelope_is_rejected() -> None:
    parsed = parse_body(sns_body(sample("sns-envelope.json")))
    assert parsed.events == ()
    assert parsed.rejected == "SNS Message: SNS envelope inside an SNS envelope: not supported"
    assert parsed.source == "sns"


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"Type": "Notification"}, "SNS Notification has no string Message (missing)"),
        ({"Type": "Notification", "Message": {"Records": []}}, "(object)"),
        (
            {"Type": "Notification", "Message": "not json"},
            "SNS Message: body is not JSON: Expecting value",
        ),
        ({"Type": "Notification", "Message": "{}"}, "SNS Message: JSON object is neither"),
    ],
)
def test_an_sns_notification_without_a_usable_message_is_rejected(
    envelope: dict[str, Any], reason: str
) -> None:
    parsed = parse_body(json.dumps(envelope))
    assert parsed.events == ()
    assert parsed.source == "sns"
    assert parsed.rejected is not None
    assert reason in parsed.rejected


def test_an_sns_envelope_keeps_the_good_records_and_the_details_of_the_bad_ones() -> None:
    message = s3_body(s3_record(), s3_record({"s3.object.key": "%FF"}))
    parsed = parse_body(sns_body(message))
    assert [event.key for event in parsed.events] == ["dir/file.txt"]
    assert parsed.rejected == (
        "SNS Message: 1 of 2 records unusable: "
        "record 2: s3.object.key '%FF' has percent-escapes that are not UTF-8"
    )
    assert parsed.details == (
        "record 2: s3.object.key '%FF' has percent-escapes that are not UTF-8",
    )


def test_an_sns_envelope_around_an_eventbridge_event_gives_its_event_from_sns() -> None:
    parsed = parse_body(sns_body(sample("eventbridge-created.json")))
    assert parsed == ParsedMessage(events=GOOD_SAMPLES["eventbridge-created.json"][1], source="sns")


# EventBridge


@pytest.mark.parametrize(
    ("detail_type", "changes", "event_name"),
    [
        ("Object Created", {"detail.reason": "PutObject"}, "ObjectCreated:Put"),
        ("Object Created", {"detail.reason": "POST Object"}, "ObjectCreated:Post"),
        ("Object Created", {"detail.reason": "CopyObject"}, "ObjectCreated:Copy"),
        (
            "Object Created",
            {"detail.reason": "CompleteMultipartUpload"},
            "ObjectCreated:CompleteMultipartUpload",
        ),
        ("Object Created", {"detail.reason": "RestoreObject"}, "ObjectCreated:RestoreObject"),
        ("Object Created", {"detail.reason": MISSING}, "ObjectCreated:*"),
        ("Object Deleted", {"detail.reason": "DeleteObject"}, "ObjectRemoved:Delete"),
        (
            "Object Deleted",
            {"detail.reason": "DeleteObject", "detail.deletion-type": "Permanently Deleted"},
            "ObjectRemoved:Delete",
        ),
        (
            "Object Deleted",
            {"detail.reason": "DeleteObject", "detail.deletion-type": "Delete Marker Created"},
            "ObjectRemoved:DeleteMarkerCreated",
        ),
        (
            "Object Deleted",
            {
                "detail.reason": "Lifecycle Expiration",
                "detail.deletion-type": "Permanently Deleted",
            },
            "LifecycleExpiration:Delete",
        ),
        (
            "Object Deleted",
            {
                "detail.reason": "Lifecycle Expiration",
                "detail.deletion-type": "Delete Marker Created",
            },
            "LifecycleExpiration:DeleteMarkerCreated",
        ),
        ("Object Restore Completed", {}, "EventBridge:ObjectRestoreCompleted"),
        ("Object Restore Initiated", {}, "EventBridge:ObjectRestoreInitiated"),
        ("Object Restore Expired", {}, "EventBridge:ObjectRestoreExpired"),
        ("Object Tags Added", {}, "EventBridge:ObjectTagsAdded"),
        ("Object Tags Deleted", {}, "EventBridge:ObjectTagsDeleted"),
        ("Object ACL Updated", {}, "EventBridge:ObjectACLUpdated"),
        ("Object Storage Class Changed", {}, "EventBridge:ObjectStorageClassChanged"),
        ("Object Access Tier Changed", {}, "EventBridge:ObjectAccessTierChanged"),
    ],
)
def test_an_eventbridge_event_is_named_like_the_s3_event_it_stands_for(
    detail_type: str, changes: dict[str, Any], event_name: str
) -> None:
    body = json.dumps(eventbridge_event({"detail-type": detail_type, **changes}))
    event = only_event(parse_body(body))
    assert event.event_name == event_name
    assert is_known_event_name(event.event_name)


def test_the_eventbridge_delete_marker_sample_variant_names_the_marker() -> None:
    document = json.loads(sample("eventbridge-deleted.json"))
    document["detail"]["deletion-type"] = "Delete Marker Created"
    document["detail"]["object"]["version-id"] = "m4rk3r"
    event = only_event(parse_body(json.dumps(document)))
    assert event.event_name == "ObjectRemoved:DeleteMarkerCreated"
    assert event.version_id == "m4rk3r"
    assert event.key == "invoices/2026/11/inv-0007.pdf"


@pytest.mark.parametrize("key", ["a+b", "a%20b", "100%", "%FF", "caf\u00e9 + cr\u00e8me%2F"])
def test_an_eventbridge_key_is_taken_literally(key: str) -> None:
    event = only_event(parse_body(json.dumps(eventbridge_event({"detail.object.key": key}))))
    assert event.key == key


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"detail-type": MISSING}, "EventBridge event: detail-type is missing"),
        ({"detail-type": " "}, "EventBridge event: detail-type is blank"),
        ({"detail": "x"}, "EventBridge event: detail must be a JSON object, got string"),
        ({"detail.bucket.name": MISSING}, "EventBridge event: detail.bucket.name is missing"),
        (
            {"detail.bucket.name": "Bad_Bucket!!"},
            "EventBridge event: detail.bucket.name: invalid bucket name 'Bad_Bucket!!'",
        ),
        ({"detail.object.key": MISSING}, "EventBridge event: detail.object.key is missing"),
        ({"detail.object.key": ""}, "EventBridge event: detail.object.key is empty"),
        ({"detail.object.key": "k" * 1025}, "EventBridge event: detail.object.key is 1025 bytes"),
        ({"detail.object.size": True}, "EventBridge event: detail.object.size must be an integer"),
        ({"detail.object.sequencer": "g"}, "EventBridge event: detail.object.sequencer 'g' is not"),
        ({"detail.reason": 3}, "EventBridge event: detail.reason must be a string, got number"),
        ({"time": "soon"}, "EventBridge event: time 'soon' is not an ISO 8601 timestamp"),
    ],
)
def test_an_eventbridge_event_that_cannot_be_used_is_rejected(
    changes: dict[str, Any], reason: str
) -> None:
    parsed = parse_body(json.dumps(eventbridge_event(changes)))
    assert parsed.events == ()
    assert parsed.source == "eventbridge"
    assert parsed.rejected is not None
    assert parsed.rejected.startswith(reason)


# Event names


# Properties

KEYS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300).filter(
    lambda key: len(key.encode("utf-8")) <= 1024
)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
RECORD_PATHS = [
    "eventVersion",
    "eventName",
    "eventTime",
    "s3",
    "s3.bucket",
    "s3.bucket.name",
    "s3.object",
    "s3.object.key",
    "s3.object.size",
    "s3.object.eTag",
    "s3.object.versionId",
    "s3.object.sequencer",
]
EVENTBRIDGE_PATHS = [
    "detail-type",
    "time",
    "detail",
    "detail.reason",
    "detail.deletion-type",
    "detail.bucket",
    "detail.bucket.name",
    "detail.object",
    "detail.object.key",
    "detail.object.size",
    "detail.object.etag",
    "detail.object.version-id",
    "detail.object.sequencer",
]


def mutated(document: dict[str, Any], changes: list[tuple[str, object]]) -> object:
    """``document`` with each change applied where its parent is still an object."""
    result = copy.deepcopy(document)
    for path, value in changes:
        *parents, last = path.split(".")
        target: object = result
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
        if isinstance(target, dict):
            if value is MISSING:
                target.pop(last, None)
            else:
                target[last] = value
    return result


def mutations(paths: list[str]) -> st.SearchStrategy[list[tuple[str, object]]]:
    return st.lists(st.tuples(st.sampled_from(paths), JSON_VALUES | st.just(MISSING)), max_size=3)


ODD_RECORDS = st.builds(lambda changes: mutated(s3_record(), changes), mutations(RECORD_PATHS))
ODD_S3_BODIES = st.builds(
    lambda records, extra: json.dumps({**extra, "Records": records}),
    st.lists(ODD_RECORDS | JSON_VALUES, max_size=3) | JSON_VALUES,
    st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=2),
)
ODD_EVENTBRIDGE_BODIES = st.builds(
    lambda changes: json.dumps(mutated(eventbridge_event(), changes)), mutations(EVENTBRIDGE_PATHS)
)
ODD_SNS_BODIES = st.builds(
    lambda message, kind: json.dumps({"Type": kind, "Message": message}),
    st.one_of(
        ODD_S3_BODIES,
        ODD_EVENTBRIDGE_BODIES,
        st.text(),
        JSON_VALUES,
        st.just(sample("sns-envelope.json")),
    ),
    st.sampled_from(["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]),
)
ODD_OBJECTS = st.builds(
    json.dumps,
    st.dictionaries(
        st.sampled_from(["Records", "Type", "Message", "Event", "source", "detail-type", "x"]),
        JSON_VALUES,
        max_size=4,
    ),
)


@settings(max_examples=300, deadline=None)
@given(key=KEYS)
def test_any_key_encoded_the_way_s3_or_moto_encode_it_decodes_to_itself(key: str) -> None:
    for encoded in (quote_plus(key), quote_plus(key, safe="/")):
        event = only_event(parse_body(s3_body(s3_record({"s3.object.key": encoded}))))
        assert event.key == key


@settings(max_examples=200, deadline=None)
@given(key=KEYS)
def test_any_eventbridge_key_is_kept_as_it_came(key: str) -> None:
    event = only_event(parse_body(json.dumps(eventbridge_event({"detail.object.key": key}))))
    assert event.key == key


@settings(max_examples=300, deadline=None)
@given(body=st.text())
def test_any_text_body_gives_a_well_formed_result(body: str) -> None:
    assert_well_formed(parse_body(body))


@settings(max_examples=300, deadline=None)
@given(
    body=st.one_of(
        JSON_VALUES.map(json.dumps),
        ODD_OBJECTS,
        ODD_S3_BODIES,
        ODD_EVENTBRIDGE_BODIES,
        ODD_SNS_BODIES,
    )
)
def test_any_json_body_however_odd_gives_a_well_formed_result(body: str) -> None:
    assert_well_formed(parse_body(body))


def test_the_fixture_samples_are_the_shared_ones() -> None:
    if not SHARED_EVENTS.is_dir():
        pytest.skip(f"{SHARED_EVENTS} is not beside this checkout")
    shared = {path.name: path.read_bytes() for path in SHARED_EVENTS.iterdir()}
    fixtures = {path.name: path.read_bytes() for path in SAMPLE_EVENTS.iterdir()}

    assert fixtures == shared
