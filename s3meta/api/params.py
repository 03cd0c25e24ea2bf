"""GET /objects's query parameters, checked one by one: each problem is one clear line.

Pure: a mapping of parameter names to their values in, an ``ObjectFilter`` out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from s3meta.domain.names import bucket_name_problem, key_problem
from s3meta.domain.records import ObjectFilter, Position

SINGLE = (
    "bucket",
    "prefix",
    "content_type",
    "min_size",
    "max_size",
    "modified_after",
    "modified_before",
    "storage_class",
    "replication_status",
    "checksum_type",
    "content_encoding",
    "deleted",
    "limit",
    "cursor",
)
_MAPPED = ("tag.", "metadata.")
# A tag or metadata name: printable, and nothing that would end a JSON path ('"', '\').
_NAME = re.compile(r'[^"\\\x00-\x1f\x7f]{1,128}')
_MAX_VALUE = 1024
_MAX_CONDITIONS = 10
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class BadParameter(ValueError):
    """A query parameter no listing can use; the message names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Listing:
    """What a GET /objects asks for."""

    where: ObjectFilter
    limit: int
    after: Position | None


def parse_listing(
    params: Sequence[tuple[str, str]], *, default_limit: int, max_limit: int
) -> Listing:
    """The listing ``params`` (name, value pairs as sent) ask for; ``BadParameter`` if not."""
    single: dict[str, str] = {}
    tags: list[tuple[str, str]] = []
    metadata: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in params:
        if name in seen:
            raise BadParameter(name, "given more than once")
        seen.add(name)
        if len(value) > _MAX_VALUE:
            raise BadParameter(name, f"longer than {_MAX_VALUE} characters")
        if name in SINGLE:
            single[name] = value
        elif name.startswith(_MAPPED):
            kind, _, field = name.partition(".")
            if not _NAME.fullmatch(field):
                raise BadParameter(
                    name, f"a {kind} name is 1-128 printable characters, no '\"' or '\\'"
                )
            (tags if kind == "tag" else metadata).append((field, value))
        else:
            raise BadParameter(name, "unknown parameter")
    if len(tags) + len(metadata) > _MAX_CONDITIONS:
        raise BadParameter("tag./metadata.", f"at most {_MAX_CONDITIONS} conditions")
    bucket = single.get("bucket")
    if bucket is None:
        raise BadParameter("bucket", "required: a listing reads one bucket's range of the index")
    problem = bucket_name_problem(bucket)
    if problem:
        raise BadParameter("bucket", problem)
    prefix = single.get("prefix", "")
    if prefix and (problem := key_problem(prefix, "prefix")):
        raise BadParameter("prefix", problem)
    deleted = _flag(single, "deleted")
    min_size = _count(single, "min_size")
    max_size = _count(single, "max_size")
    if min_size is not None and max_size is not None and min_size > max_size:
        raise BadParameter("max_size", "below min_size")
    after_time = _time(single, "modified_after")
    before_time = _time(single, "modified_before")
    if after_time and before_time and after_time >= before_time:
        raise BadParameter("modified_before", "not after modified_after")
    where = ObjectFilter(
        bucket,
        prefix,
        include_deleted=deleted is not False,
        only_deleted=deleted is True,
        content_type=_text(single, "content_type"),
        storage_class=_text(single, "storage_class"),
        replication_status=_text(single, "replication_status"),
        checksum_type=_text(single, "checksum_type"),
        content_encoding=_text(single, "content_encoding"),
        min_size=min_size,
        max_size=max_size,
        modified_after=after_time,
        modified_before=before_time,
        tags=tuple(sorted(tags)),
        metadata=tuple(sorted(metadata)),
    )
    limit = _count(single, "limit")
    if limit is None:
        limit = default_limit
    elif not 1 <= limit <= max_limit:
        raise BadParameter("limit", f"must be 1 to {max_limit}")
    cursor = single.get("cursor")
    after = None if cursor is None else decode_cursor(cursor, where)
    return Listing(where, limit, after)


def encode_cursor(position: Position, where: ObjectFilter) -> str:
    """An opaque cursor: where the next page starts, good only with the same filter."""
    text = json.dumps([position[0], position[1], _fingerprint(where)], ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, where: ObjectFilter) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        bucket, key, fingerprint = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise BadParameter("cursor", "not a cursor this API returned") from None
    if not (isinstance(bucket, str) and isinstance(key, str)) or fingerprint != _fingerprint(where):
        raise BadParameter("cursor", "belongs to a listing with other parameters")
    return bucket, key


def _fingerprint(where: ObjectFilter) -> str:
    return hashlib.sha256(repr(where).encode("utf-8")).hexdigest()[:16]


def _text(single: Mapping[str, str], name: str) -> str | None:
    value = single.get(name)
    if value is not None and not value:
        raise BadParameter(name, "empty")
    return value


def _flag(single: Mapping[str, str], name: str) -> bool | None:
    value = single.get(name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise BadParameter(name, "expected true or false")


def _count(single: Mapping[str, str], name: str) -> int | None:
    value = single.get(name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        raise BadParameter(name, "expected a whole number of at most 19 digits")
    number = int(value)
    if number > 2**63 - 1:
        raise BadParameter(name, "too large")
    return number


def _time(single: Mapping[str, str], name: str) -> datetime | None:
    value = single.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadParameter(name, "expected an ISO 8601 time, e.g. 2026-11-20T10:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not 1970 <= moment.astimezone(UTC).year <= 9998:
        raise BadParameter(name, "out of range")
    return moment.astimezone(UTC)
