"""GET /objects's parameters: a filter out, or one line naming the bad parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3meta.api.params import BadParameter, decode_cursor, encode_cursor, parse_listing


def parsed(*pairs: tuple[str, str]):  # type: ignore[no-untyped-def]
    return parse_listing(list(pairs), default_limit=100, max_limit=1000)


def test_every_filter_lands_in_the_object_filter() -> None:
    listing = parsed(
        ("bucket", "b-1"),
        ("prefix", "p/"),
        ("content_type", "text/plain"),
        ("min_size", "1"),
        ("max_size", "9"),
        ("modified_after", "2026-11-20T10:00:00Z"),
        ("modified_before", "2026-11-21T10:00:00+01:00"),
        ("storage_class", "GLACIER"),
        ("replication_status", "FAILED"),
        ("checksum_type", "COMPOSITE"),
        ("content_encoding", "gzip"),
        ("deleted", "false"),
        ("tag.team", "x"),
        ("metadata.owner", "ann"),
        ("limit", "5"),
    )

    where = listing.where
    assert (where.bucket, where.prefix, where.content_type) == ("b-1", "p/", "text/plain")
    assert (where.min_size, where.max_size, where.storage_class) == (1, 9, "GLACIER")
    assert (where.replication_status, where.checksum_type, where.content_encoding) == (
        "FAILED",
        "COMPOSITE",
        "gzip",
    )
    assert where.modified_after == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert where.modified_before == datetime(2026, 11, 21, 9, tzinfo=UTC)
    assert (where.include_deleted, where.only_deleted) == (False, False)
    assert where.tags == (("team", "x"),)
    assert where.metadata == (("owner", "ann"),)
    assert where.unindexed
    assert listing.limit == 5


def test_bucket_and_prefix_alone_read_only_the_index() -> None:
    assert not parsed(("bucket", "b-1"), ("prefix", "x")).where.unindexed


def test_a_cursor_comes_back_as_its_position_for_the_same_listing_only() -> None:
    where = parsed(("bucket", "b-1")).where
    other = parsed(("bucket", "b-1"), ("prefix", "a")).where
    cursor = encode_cursor(("b-1", "k/é"), where)

    assert decode_cursor(cursor, where) == ("b-1", "k/é")
    with pytest.raises(BadParameter, match="belongs to a listing with other parameters"):
        decode_cursor(cursor, other)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((), "bucket: required"),
        ((("bucket", "b-1"), ("limit", "1001")), "limit: must be 1 to 1000"),
        ((("bucket", "b-1"), ("min_size", "1e3")), "min_size: expected a whole number"),
        ((("bucket", "b-1"), ("max_size", "9" * 20)), "max_size: expected a whole number"),
        ((("bucket", "b-1"), ("modified_after", "0001-01-01")), "modified_after: out of range"),
        (
            (
                ("bucket", "b-1"),
                ("modified_after", "2026-02-01"),
                ("modified_before", "2026-01-01"),
            ),
            "modified_before: not after modified_after",
        ),
        ((("bucket", "b-1"), ("content_type", "")), "content_type: empty"),
        ((("bucket", "b-1"), *((f"tag.t{n}", "v") for n in range(11))), "tag./metadata."),
        ((("bucket", "b-1"), ("prefix", "x" * 1025)), "prefix: longer than 1024"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_it(
    pairs: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(BadParameter) as raised:
        parsed(*pairs)

    assert str(raised.value).startswith(message)
