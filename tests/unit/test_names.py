"""``s3meta.domain.names``: the bucket and key rules everyone asks."""

from __future__ import annotations

import pytest

from s3meta.domain.names import bucket_name_problem, key_problem, short_repr


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


def test_a_short_repr_is_printable_ascii_of_at_most_63_characters() -> None:
    assert short_repr("bücket") == "'b\\xfccket'"
    assert len(short_repr("b" * 300)) == 63
    assert short_repr("b" * 300).endswith("...")
