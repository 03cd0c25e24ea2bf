from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from s3meta.domain.times import format_age, iso_utc, parse_since

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1.5h", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (" 2 H ", timedelta(hours=2)),
        ("0s", timedelta(0)),
    ],
)
def test_a_span_reaches_back_from_now(text: str, back: timedelta) -> None:
    assert parse_since(text, NOW) == NOW - back


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-20T10:15:00Z", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-20T10:15:00", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),  # UTC if unzoned
        ("2026-11-20T11:15:00+01:00", datetime(2026, 11, 20, 10, 15, tzinfo=UTC)),
        ("2026-11-19", datetime(2026, 11, 19, tzinfo=UTC)),
    ],
)
def test_an_iso_time_is_read_as_utc(text: str, moment: datetime) -> None:
    parsed = parse_since(text, NOW)
    assert parsed == moment
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "not a time"),
        ("1y", "not a time"),
        ("-1h", "not a time"),
        ("", "not a time"),
        ("2026-11-21T00:00:00Z", "in the future"),
        ("99999999d", "more than 100 years"),
    ],
)
def test_other_text_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_since(text, NOW)


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_since("1h", NOW.replace(tzinfo=None))


def test_a_span_from_a_zoned_now_is_in_utc() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=5)))
    assert parse_since("1h", now) == NOW - timedelta(hours=1)
    assert parse_since("1h", now).tzinfo == UTC


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "-"),
        (-3.0, "0 s"),
        (0.4, "0 s"),
        (42.9, "42 s"),
        (245, "4 min 5 s"),
        (2 * 3600 + 180 + 7, "2 h 3 min"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_ages_are_short(seconds: float | None, shown: str) -> None:
    assert format_age(seconds) == shown


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (None, None),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000000Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC), "2026-01-02T03:04:05.000007Z"),
        # Naive means UTC already, as everywhere in s3meta.
        (datetime(2026, 1, 2, 3, 4, 5), "2026-01-02T03:04:05.000000Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000000Z",
        ),
    ],
)
def test_iso_utc_always_gives_utc_with_z_and_microseconds(
    moment: datetime | None, expected: str | None
) -> None:
    assert iso_utc(moment) == expected
