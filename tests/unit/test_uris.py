from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3meta.domain.uris import parse_s3_prefix_uri, parse_s3_uri, validate_bucket_name


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket-a/key", ("bucket-a", "key")),
        ("s3://bucket-a/dir/sub/file.txt", ("bucket-a", "dir/sub/file.txt")),
        ("s3://bucket-a/with space", ("bucket-a", "with space")),
        ("s3://bucket-a/a+b", ("bucket-a", "a+b")),
        ("s3://bucket-a/100%25", ("bucket-a", "100%25")),
        ("s3://bucket-a/what?x=1#frag", ("bucket-a", "what?x=1#frag")),
        ("s3://bucket-a/café/日本.txt", ("bucket-a", "café/日本.txt")),
        ("s3://bucket-a//leading-slash", ("bucket-a", "/leading-slash")),
        ("s3://bucket-a/trailing/", ("bucket-a", "trailing/")),
        ("s3://bucket-a/ends with space ", ("bucket-a", "ends with space ")),
        ("s3://a.b-c.9/k", ("a.b-c.9", "k")),
        ("s3://abc/k", ("abc", "k")),
        (f"s3://{'b' * 63}/k", ("b" * 63, "k")),
        ("S3://bucket-a/key", ("bucket-a", "key")),
        (f"s3://bucket-a/{'k' * 1024}", ("bucket-a", "k" * 1024)),
        (f"s3://bucket-a/{'é' * 512}", ("bucket-a", "é" * 512)),
    ],
)
def test_parse_s3_uri_takes_the_key_literally(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bucket-a/key", "not an S3 URI"),
        ("", "not an S3 URI"),
        ("https://bucket-a/key", "not an S3 URI"),
        ("s3:/bucket-a/key", "not an S3 URI"),
        (" s3://bucket-a/key", "not an S3 URI"),
        ("s3:///key", "no bucket"),
        ("s3://", "no bucket"),
        ("s3://bucket-a", "no key"),
        ("s3://bucket-a/", "empty key"),
        ("s3://ab/key", "invalid bucket name"),
        (f"s3://{'b' * 64}/key", "invalid bucket name"),
        ("s3://Bucket-A/key", "invalid bucket name"),
        ("s3://bucket_a/key", "invalid bucket name"),
        ("s3://-bucket/key", "invalid bucket name"),
        ("s3://bucket-/key", "invalid bucket name"),
        ("s3://.bucket/key", "invalid bucket name"),
        ("s3://buc ket/key", "invalid bucket name"),
        (f"s3://bucket-a/{'k' * 1025}", "1025 bytes"),
        (f"s3://bucket-a/{'é' * 512}x", "1025 bytes"),
        ("s3://bucket-a/bad\udcffbyte", "not valid UTF-8"),
    ],
)
def test_parse_s3_uri_rejects_what_is_not_an_object_uri(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_s3_uri(uri)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket-a", ("bucket-a", "")),
        ("s3://bucket-a/", ("bucket-a", "")),
        ("s3://bucket-a/logs/", ("bucket-a", "logs/")),
        ("s3://bucket-a/50%_", ("bucket-a", "50%_")),
        ("s3://bucket-a/a b+c", ("bucket-a", "a b+c")),
    ],
)
def test_parse_s3_prefix_uri_allows_an_empty_prefix(uri: str, expected: tuple[str, str]) -> None:
    assert parse_s3_prefix_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bucket-a", "not an S3 URI"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://BUCKET/prefix", "invalid bucket name"),
        (f"s3://bucket-a/{'p' * 1025}", "1025 bytes"),
    ],
)
def test_parse_s3_prefix_uri_rejects_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_s3_prefix_uri(uri)


def test_validate_bucket_name_says_what_a_bucket_name_is() -> None:
    with pytest.raises(ValueError, match="3-63 lowercase letters"):
        validate_bucket_name("UPPER")


def test_validate_bucket_name_rejects_an_empty_name() -> None:
    with pytest.raises(ValueError, match="empty bucket name"):
        validate_bucket_name("")


@given(st.text(min_size=1, max_size=1024).filter(lambda key: len(key.encode()) <= 1024))
def test_any_key_of_up_to_1024_bytes_round_trips(key: str) -> None:
    assert parse_s3_uri(f"s3://bucket-a/{key}") == ("bucket-a", key)


@given(st.text(min_size=0, max_size=1024).filter(lambda key: len(key.encode()) <= 1024))
def test_any_prefix_of_up_to_1024_bytes_round_trips(prefix: str) -> None:
    assert parse_s3_prefix_uri(f"s3://bucket-a/{prefix}") == ("bucket-a", prefix)
