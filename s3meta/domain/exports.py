"""What an export holds: the columns ``list --json`` prints, the kind of value in each, and
the file formats. Pure.

The columns are not listed here: ``columns_of`` reads them off the serializer that ``list
--json`` uses, for a record with every field set, so that a field added to the record and to
the serializer is a column of every export too, with its kind.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from s3meta.domain.records import ObjectRecord
from s3meta.domain.times import iso_utc

Serializer = Callable[[ObjectRecord], Mapping[str, Any]]


class Format(StrEnum):
    """The file formats of ``s3meta export``."""

    PARQUET = "parquet"
    CSV = "csv"
    JSONL = "jsonl"


# What an output's name says about its format, when --format does not.
_SUFFIXES = {
    ".parquet": Format.PARQUET,
    ".csv": Format.CSV,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
}


def format_of_name(name: str) -> Format | None:
    """The format a file name's suffix names (``rows.parquet``: Parquet), or None."""
    return _SUFFIXES.get(PurePosixPath(name).suffix.lower())


class Kind(StrEnum):
    """What one column holds, as an export types it."""

    TEXT = "text"
    INTEGER = "integer"  # int64
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # UTC, to the microsecond
    MAP = "map"  # text to text: user metadata, tags


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an export: its name in ``list --json`` and its kind."""

    name: str
    kind: Kind


# The probe's moment: any value the serializer prints as ``iso_utc`` prints it is a timestamp.
_PROBE_TIME = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)


def columns_of(serialize: Serializer) -> tuple[Column, ...]:
    """The columns ``serialize`` writes, in its order, each of the kind of its value for a
    record with every field set.

    Raises ``TypeError`` naming a field or column no kind fits, rather than guessing.
    """
    hints = typing.get_type_hints(ObjectRecord)
    probe = ObjectRecord(
        **{each.name: _probe_value(each.name, hints[each.name]) for each in fields(ObjectRecord)}
    )
    return tuple(Column(name, _kind(name, value)) for name, value in serialize(probe).items())


def _probe_value(name: str, hint: Any) -> Any:
    """A value of the field's type (``None`` left out of an optional one)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = (each for each in typing.get_args(hint) if each is not type(None))
    base = typing.get_origin(hint) or hint
    samples: dict[Any, Any] = {
        str: f"probe-{name}",
        int: 7,
        bool: True,
        datetime: _PROBE_TIME,
        Mapping: {"probe": name},
        dict: {"probe": name},
    }
    if base not in samples:
        raise TypeError(f"ObjectRecord.{name}: no export kind for {hint!r}")
    return samples[base]


def _kind(name: str, value: Any) -> Kind:
    # bool before int: a bool is an int to isinstance.
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, int):
        return Kind.INTEGER
    if isinstance(value, Mapping):
        return Kind.MAP
    if isinstance(value, str):
        return Kind.TIMESTAMP if value == iso_utc(_PROBE_TIME) else Kind.TEXT
    raise TypeError(f"column {name!r}: no export kind for a {type(value).__name__} ({value!r})")
