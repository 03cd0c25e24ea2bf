"""Exports read back as ``s3meta list --json`` prints rows, to compare the two."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from s3meta.domain.exports import Format, Kind, columns_of
from s3meta.domain.times import iso_utc
from s3meta.operations.export import csv_schema
from s3meta.render import row_to_json


def read_back(path: Path, file_format: Format) -> list[dict[str, Any]]:
    """The rows of the export at ``path``, each as the dict ``list --json`` prints."""
    if file_format is Format.JSONL:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if file_format is Format.PARQUET:
        return [
            {name: _from_parquet(value) for name, value in row.items()}
            for row in pq.read_table(path).to_pylist()
        ]
    return _csv_rows(path)


def _from_parquet(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, list):  # a map: (key, value) pairs
        return dict(value)
    return value


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    columns = columns_of(row_to_json)
    options = pcsv.ConvertOptions(
        column_types=csv_schema(columns),
        strings_can_be_null=True,
        # A quoted "" is text; only an empty unquoted field is null.
        quoted_strings_can_be_null=False,
    )
    parsing = pcsv.ParseOptions(newlines_in_values=True)
    rows = pcsv.read_csv(path, parse_options=parsing, convert_options=options).to_pylist()
    maps = {column.name for column in columns if column.kind is Kind.MAP}
    return [
        {
            name: json.loads(value) if name in maps and value is not None else value
            for name, value in row.items()
        }
        for row in rows
    ]
