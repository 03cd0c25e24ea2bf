"""Moments and durations as operators type and read them: ``--since 2h``, ``oldest 4 min``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from s3meta.domain.objects import to_utc

# "90s", "30m", "1h", "2d", "1w"; a number (decimals allowed) and one unit.
_RELATIVE = re.compile(r"(?P<amount>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Far enough back for any retention; beyond this a typo ("3000000d") is more likely.
_MAX_RELATIVE = timedelta(days=100 * 365)


def iso_utc(moment: datetime | None) -> str | None:
    """``2026-11-20T10:15:30.000000Z``: UTC, always to the microsecond, so strings sort as times."""
    if moment is None:
        return None
    return to_utc(moment).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_since(text: str, now: datetime) -> datetime:
    """The aware UTC moment ``text`` names: ISO 8601, or a span back from ``now`` ("1h").

    An ISO time without a zone is taken as UTC. Raises ``ValueError`` saying what is accepted.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    value = text.strip()
    relative = _RELATIVE.fullmatch(value.lower())
    if relative:
        span = timedelta(seconds=float(relative["amount"]) * _UNITS[relative["unit"]])
        if span > _MAX_RELATIVE:
            raise ValueError(f"{text!r} reaches back more than 100 years")
        return now.astimezone(UTC) - span
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (expected ISO 8601 such as 2026-11-20T10:15:00Z, "
            "or a span back from now such as 30m, 1h, 2d)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment > now:
        raise ValueError(f"{text!r} is in the future")
    return moment


def parse_span(text: str) -> timedelta:
    """The span ``text`` names ("90s", "30m", "1h", "2d", "1w"); ``ValueError`` otherwise."""
    relative = _RELATIVE.fullmatch(text.strip().lower())
    if not relative:
        raise ValueError(f"not a span: {text!r} (expected a number and a unit: 30m, 1h, 2d)")
    span = timedelta(seconds=float(relative["amount"]) * _UNITS[relative["unit"]])
    if span > _MAX_RELATIVE:
        raise ValueError(f"{text!r} is more than 100 years")
    return span


def format_age(seconds: float | None) -> str:
    """A short age for a table: ``0 s``, ``42 s``, ``4 min 5 s``, ``2 h 3 min``, ``3 d 4 h``."""
    if seconds is None:
        return "-"
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
