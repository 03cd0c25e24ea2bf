"""``s3meta.domain.names``: the bucket, key and task-argument rules everyone asks."""

from __future__ import annotations

import pytest

from s3meta.domain.names import (
    InvalidTaskCall,
    bucket_name_problem,
    check_task_arguments,
    check_task_call,
    key_problem,
    recordable_bucket,
    recordable_key,
)


@pytest.mark.parametrize("name", ["abc", "my.bucket-1", "a" * 63])
def test_a_valid_bucket_name_has_no_problem(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Bad_Bucket!!", "invalid bucket name 'Bad_Bucket!!'"),
        ("ab", "invalid bucket name"),
        ("a" * 64, "invalid bucket name"),
        ("", "empty bucket name"),
        (123, "bucket must be a string, got int 123"),
        (None, "bucket must be a string, got NoneType None"),
    ],
)
def test_a_bucket_name_s3_could_not_have_is_refused_saying_why(name: object, problem: str) -> None:
    assert problem in (bucket_name_problem(name) or "")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "key is empty"),
        ("é" * 513, "key is 1026 bytes of UTF-8; S3 allows at most 1024"),
        ("\udc80", "key is not valid UTF-8 text"),
        (b"k", "key must be a string, got bytes"),
    ],
)
def test_a_key_s3_could_not_have_is_refused_saying_why(key: object, problem: str) -> None:
    assert problem in (key_problem(key) or "")


def test_a_key_of_1024_bytes_is_fine() -> None:
    assert key_problem("k/" + "é" * 511) is None


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
