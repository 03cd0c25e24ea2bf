"""``s3meta.domain.task_call``: the task's keyword arguments both ways, and the call's checks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3meta.domain.events import ObjectEvent, parse_body
from s3meta.domain.objects import EventInfo
from s3meta.domain.task_call import (
    InvalidTaskCall,
    check_task_arguments,
    check_task_call,
    event_info,
    recordable_bucket,
    recordable_key,
    task_kwargs,
)
from tests.support.samples import SAMPLE_EVENTS


def sample_event(name: str) -> ObjectEvent:
    (event,) = parse_body((SAMPLE_EVENTS / name).read_text(encoding="utf-8")).events
    return event


# Who and how, as the samples' S3 records carry them.
WHO = {
    "principal_id": "AWS:AIDAEXAMPLE",
    "source_ip_address": "203.0.113.10",
    "request_id": "C3D13FE58DE4C810",
    "host_id": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
    "configuration_id": "s3meta-uploads",
}


def test_task_kwargs_carry_what_the_event_has_and_leave_out_the_rest() -> None:
    assert task_kwargs(sample_event("put.json")) == {
        "event_name": "ObjectCreated:Put",
        "event_time": "2026-11-20T10:15:30.123Z",
        "version_id": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "size": 1048576,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "sequencer": "0055AED6DCD90281E5",
        **WHO,
    }
    assert task_kwargs(sample_event("delete.json")) == {
        "event_name": "ObjectRemoved:Delete",
        "event_time": "2026-11-20T10:15:30.123Z",
        "sequencer": "0055AED6DCD90290AA",
        **WHO,
    }
    eventbridge = task_kwargs(sample_event("eventbridge-created.json"))
    assert "host_id" not in eventbridge
    assert "configuration_id" not in eventbridge


# event_info ---------------------------------------------------------------------------------


def test_event_info_takes_the_full_set_of_task_kwargs() -> None:
    info = event_info(
        {
            "event_name": "ObjectCreated:Put",
            "event_time": "2026-11-20T10:15:30.123Z",
            "sequencer": "0055AED6DCD90281E5",
            "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            "size": 1024,
            "etag": '"d41d8cd98f00b204e9800998ecf8427e"',
        }
    )

    assert info == EventInfo(
        event_name="ObjectCreated:Put",
        event_time=datetime(2026, 11, 20, 10, 15, 30, 123000, tzinfo=UTC),
        sequencer="0055AED6DCD90281E5",
        version_id="3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
        size=1024,
        etag="d41d8cd98f00b204e9800998ecf8427e",
    )


def test_a_manual_requeue_has_no_event_information() -> None:
    info = event_info({})

    assert info == EventInfo()
    assert info.event_name is None
    assert info.event_time is None
    assert info.sequencer is None
    assert info.version_id is None
    assert info.size is None
    assert info.etag is None


def test_unknown_extra_kwargs_are_ignored() -> None:
    info = event_info(
        {"event_name": "ObjectRemoved:Delete", "region": "eu-west-1", "new_field": [1, 2]}
    )

    assert info == EventInfo(event_name="ObjectRemoved:Delete")


def test_the_event_time_is_parsed_to_aware_utc_with_milliseconds() -> None:
    info = event_info({"event_time": "2026-11-20T10:15:30.123Z"})

    assert info.event_time is not None
    assert info.event_time.tzinfo is UTC
    assert info.event_time.microsecond == 123000
    assert info.event_time == datetime(2026, 11, 20, 10, 15, 30, 123000, tzinfo=UTC)


def test_an_event_time_with_an_offset_is_converted_to_utc() -> None:
    info = event_info({"event_time": "2026-11-20T12:15:30+02:00"})

    assert info.event_time == datetime(2026, 11, 20, 10, 15, 30, tzinfo=UTC)
    assert info.event_time is not None
    assert info.event_time.tzinfo is UTC


def test_the_etag_loses_its_quotes() -> None:
    assert event_info({"etag": '"abc123"'}).etag == "abc123"
    assert event_info({"etag": "abc123"}).etag == "abc123"


def test_a_multipart_etag_keeps_its_part_count() -> None:
    assert event_info({"etag": '"abc123-4"'}).etag == "abc123-4"


def test_a_size_sent_as_a_string_becomes_an_int() -> None:
    assert event_info({"size": "2048"}).size == 2048


def test_a_zero_size_is_kept() -> None:
    assert event_info({"size": 0}).size == 0


def test_explicit_nones_mean_absent() -> None:
    info = event_info({"event_name": None, "event_time": None, "size": None, "etag": None})

    assert info == EventInfo()


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-40T99:00:00Z", "2026/11/20 10:15"])
def test_a_bad_event_time_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|must be in"):
        event_info({"event_time": bad})


# The call ---------------------------------------------------------------------------------


def test_every_problem_of_a_call_is_named_in_one_sentence() -> None:
    with pytest.raises(InvalidTaskCall) as raised:
        check_task_call("Bad_Bucket!!", None, {"size": "big"})
    message = str(raised.value)
    assert "\n" not in message
    assert "invalid bucket name" in message
    assert "key must be a string" in message
    assert "unreadable event fields" in message


def test_a_good_call_gives_its_bucket_key_and_event() -> None:
    call = check_task_call("bucket-a", "k", {"event_name": "ObjectCreated:Put", "size": 3})
    assert (call.bucket, call.key, call.event.size) == ("bucket-a", "k", 3)


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((), {}, "bucket is missing"),
        (("bucket-a",), {"bucket": "bucket-b"}, "bucket given twice"),
        (("bucket-a", "k", "x"), {}, "1 more positional"),
    ],
)
def test_celerys_form_of_a_call_is_bound_like_the_function(
    args: tuple[object, ...], kwargs: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidTaskCall, match=problem):
        check_task_arguments(args, kwargs)


def test_named_bucket_and_key_are_accepted() -> None:
    call = check_task_arguments(None, {"bucket": "bucket-a", "key": "k", "etag": '"e"'})
    assert (call.bucket, call.key, call.event.etag) == ("bucket-a", "k", "e")


def test_unusable_arguments_are_recorded_as_short_ascii_reprs() -> None:
    assert recordable_bucket(123) == "123"
    assert recordable_bucket("Bad_Bucket!!") == "Bad_Bucket!!"
    assert recordable_bucket("bücket") == "'b\\xfccket'"
    assert len(recordable_bucket("b" * 300)) == 63
    assert recordable_key(None) == "None"
    assert recordable_key("ünï/key") == "ünï/key"
    assert recordable_key("") == "''"
