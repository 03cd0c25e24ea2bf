"""``db.models``: Celery's result tables mirrored in our schema, and ``UTCDateTime``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from celery.backends.database.models import TaskExtended, TaskSet
from sqlalchemy.dialects import mysql, sqlite

from db.models import Base, UTCDateTime
from s3meta.compat import celery_results as _result_tables  # noqa: F401  (declares them on Base)

MIRRORS = [
    pytest.param("celery_taskmeta", TaskExtended.__table__, id="celery_taskmeta"),
    pytest.param("celery_tasksetmeta", TaskSet.__table__, id="celery_tasksetmeta"),
]
WIDENED_BLOBS = ["result", "args", "kwargs", "children", "stamps"]


def ours(name: str) -> sa.Table:
    return Base.metadata.tables[name]


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_the_mirrored_table_has_exactly_celerys_columns(name: str, celerys: sa.Table) -> None:
    assert ours(name).name == celerys.name
    assert [column.name for column in ours(name).columns] == [
        column.name for column in celerys.columns
    ]


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_the_mirrored_table_has_celerys_nullability(name: str, celerys: sa.Table) -> None:
    assert {column.name: column.nullable for column in ours(name).columns} == {
        column.name: column.nullable for column in celerys.columns
    }


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_the_mirrored_table_has_celerys_primary_key(name: str, celerys: sa.Table) -> None:
    assert [column.name for column in ours(name).primary_key] == [
        column.name for column in celerys.primary_key
    ]


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_the_mirrored_table_has_celerys_unique_and_indexed_columns(
    name: str, celerys: sa.Table
) -> None:
    def flags(table: sa.Table) -> dict[str, tuple[bool, bool]]:
        return {column.name: (bool(column.unique), bool(column.index)) for column in table.columns}

    assert flags(ours(name)) == flags(celerys)


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_the_mirrored_string_columns_have_celerys_lengths(name: str, celerys: sa.Table) -> None:
    def lengths(table: sa.Table) -> dict[str, int | None]:
        return {
            column.name: column.type.length
            for column in table.columns
            if isinstance(column.type, sa.String)
        }

    assert lengths(ours(name)) == lengths(celerys)
    assert lengths(ours(name))


@pytest.mark.parametrize(
    ("name", "celerys", "sequence"),
    [
        ("celery_taskmeta", TaskExtended.__table__, "task_id_sequence"),
        ("celery_tasksetmeta", TaskSet.__table__, "taskset_id_sequence"),
    ],
)
def test_the_id_column_uses_celerys_sequence(name: str, celerys: sa.Table, sequence: str) -> None:
    our_default = ours(name).c.id.default
    celerys_default = celerys.c.id.default

    assert isinstance(our_default, sa.Sequence)
    assert isinstance(celerys_default, sa.Sequence)
    assert our_default.name == celerys_default.name == sequence


@pytest.mark.parametrize(("name", "celerys"), MIRRORS)
def test_on_sqlite_the_mirrored_columns_compile_like_celerys(name: str, celerys: sa.Table) -> None:
    dialect = sqlite.dialect()

    def compiled(table: sa.Table) -> dict[str, str]:
        return {column.name: column.type.compile(dialect=dialect) for column in table.columns}

    assert compiled(ours(name)) == compiled(celerys)


@pytest.mark.parametrize("column", WIDENED_BLOBS)
def test_on_mysql_the_binary_task_columns_are_longblob(column: str) -> None:
    compiled = ours("celery_taskmeta").c[column].type.compile(dialect=mysql.dialect())

    assert compiled == "LONGBLOB"


def test_on_mysql_the_taskset_result_is_longblob() -> None:
    compiled = ours("celery_tasksetmeta").c.result.type.compile(dialect=mysql.dialect())

    assert compiled == "LONGBLOB"


def test_on_mysql_the_traceback_is_longtext() -> None:
    compiled = ours("celery_taskmeta").c.traceback.type.compile(dialect=mysql.dialect())

    assert compiled == "LONGTEXT"


def test_on_mysql_the_other_columns_compile_like_celerys() -> None:
    dialect = mysql.dialect()
    widened = {*WIDENED_BLOBS, "traceback"}

    for column in TaskExtended.__table__.columns:
        if column.name in widened:
            continue
        ours_compiled = ours("celery_taskmeta").c[column.name].type.compile(dialect=dialect)
        assert ours_compiled == column.type.compile(dialect=dialect), column.name


# UTCDateTime -------------------------------------------------------------------------------


def test_utc_datetime_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        UTCDateTime().process_bind_param(datetime(2026, 11, 20, 10, 15, 30), sqlite.dialect())


def test_utc_datetime_stores_an_aware_datetime_as_naive_utc() -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 20, 11, 15, 30, 123456, tzinfo=paris)

    stored = UTCDateTime().process_bind_param(moment, sqlite.dialect())

    assert stored == datetime(2026, 11, 20, 10, 15, 30, 123456)
    assert stored is not None
    assert stored.tzinfo is None


def test_utc_datetime_reads_back_an_aware_utc_datetime() -> None:
    loaded = UTCDateTime().process_result_value(
        datetime(2026, 11, 20, 10, 15, 30, 123456), sqlite.dialect()
    )

    assert loaded == datetime(2026, 11, 20, 10, 15, 30, 123456, tzinfo=UTC)
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_utc_datetime_round_trips_a_moment() -> None:
    moment = datetime(2026, 11, 20, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))
    column_type = UTCDateTime()
    dialect = sqlite.dialect()

    loaded = column_type.process_result_value(
        column_type.process_bind_param(moment, dialect), dialect
    )

    assert loaded == moment
    assert loaded is not None
    assert loaded.tzinfo is UTC


def test_utc_datetime_passes_none_through() -> None:
    column_type = UTCDateTime()

    assert column_type.process_bind_param(None, sqlite.dialect()) is None
    assert column_type.process_result_value(None, sqlite.dialect()) is None


def test_utc_datetime_keeps_microseconds_on_mysql() -> None:
    assert UTCDateTime().compile(dialect=mysql.dialect()) == "DATETIME(6)"


def test_every_field_of_an_object_state_has_a_column_of_the_same_name() -> None:
    from dataclasses import fields

    from db.models import ObjectMetadata
    from s3meta.domain.objects import ObjectState

    columns = set(ObjectMetadata.__table__.columns.keys())
    state_fields = {field.name for field in fields(ObjectState)} - {"bucket", "key"}

    assert state_fields <= columns, state_fields - columns
