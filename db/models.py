"""The schema as SQLAlchemy 2 typed models; the migrations must match it (``alembic check``).

The task runner's result tables, which the migrations also create, are declared on
``Base.metadata`` by the runner's adapter (``s3meta.compat``), so the full schema is this
module's tables and those; ``alembic/env.py`` imports both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from s3meta.domain.provenance import WIDTHS

_MYSQL = ("mysql", "mariadb")
_MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive (MySQL DATETIME has no zone) with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class ObjectKey(TypeDecorator[str]):
    """An S3 key: up to 1024 bytes of UTF-8, compared and sorted byte by byte as S3 does.

    MySQL stores it as VARBINARY: text collations ignore trailing spaces (PAD SPACE) or case,
    and 1024 bytes fit a unique index where 1024 utf8mb4 characters do not.
    """

    impl = sa.String(1024)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.VARBINARY(1024))
        return dialect.type_descriptor(sa.String(1024))

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> Any:
        if value is not None and dialect.name in _MYSQL:
            return value.encode("utf-8")
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        if isinstance(value, bytes | bytearray):
            return bytes(value).decode("utf-8")
        return value  # type: ignore[no-any-return]


# Bucket names are lowercase ASCII by S3's rules.
BucketName = sa.String(63).with_variant(
    mysql.VARCHAR(63, charset="ascii", collation="ascii_bin"), *_MYSQL
)
LongText = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
LongBlob = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MYSQL)
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class ObjectMetadata(Base):
    """One row per (bucket, key): the object's current state, or that it was removed."""

    __tablename__ = "object_metadata"
    __table_args__ = (
        sa.UniqueConstraint("bucket", "object_key", name="uq_object_metadata_bucket_object_key"),
        _MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(BucketName)
    object_key: Mapped[str] = mapped_column(ObjectKey)
    version_id: Mapped[str | None] = mapped_column(sa.String(1024))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    etag: Mapped[str | None] = mapped_column(sa.String(128))
    content_type: Mapped[str | None] = mapped_column(sa.String(255))
    last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    storage_class: Mapped[str | None] = mapped_column(sa.String(32))
    user_metadata: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    sequencer: Mapped[str | None] = mapped_column(sa.String(64))
    event_name: Mapped[str | None] = mapped_column(sa.String(64))
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by: Mapped[str | None] = mapped_column(sa.String(64))  # the event that removed it
    # Deleted, and nothing ever showed the object existed: a requeue, or a removal event
    # (S3 sends one for a DELETE of a key that does not exist), for a key HeadObject never found.
    never_seen: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    checksum_algorithm: Mapped[str | None] = mapped_column(sa.String(16))
    checksum_value: Mapped[str | None] = mapped_column(sa.String(128))
    server_side_encryption: Mapped[str | None] = mapped_column(sa.String(32))
    sse_kms_key_id: Mapped[str | None] = mapped_column(sa.String(2048))
    object_lock_mode: Mapped[str | None] = mapped_column(sa.String(16))
    object_lock_retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    object_lock_legal_hold: Mapped[str | None] = mapped_column(sa.String(8))
    restore_status: Mapped[str | None] = mapped_column(sa.String(255))
    parts_count: Mapped[int | None] = mapped_column(sa.Integer)
    tags: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_task_id: Mapped[str | None] = mapped_column(sa.String(155))
    # Everything else HeadObject says (revision 0005); headers is null on rows not written since.
    content_encoding: Mapped[str | None] = mapped_column(sa.String(255))
    replication_status: Mapped[str | None] = mapped_column(sa.String(16))
    checksum_type: Mapped[str | None] = mapped_column(sa.String(16))
    bucket_key_enabled: Mapped[bool | None] = mapped_column(sa.Boolean)
    headers: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    # Who and how of the last event applied (revision 0004).
    principal_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["principal_id"]))
    source_ip_address: Mapped[str | None] = mapped_column(sa.String(WIDTHS["source_ip_address"]))
    request_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["request_id"]))
    host_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["host_id"]))
    configuration_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["configuration_id"]))


# S3's version ids are short URL-safe ASCII: as ASCII, the unique key fits InnoDB's 3072 bytes.
VersionId = sa.String(1024).with_variant(
    mysql.VARCHAR(1024, charset="ascii", collation="ascii_bin"), *_MYSQL
)


class ObjectVersion(Base):
    """One row per (bucket, key, version id) of a versioned bucket, delete markers included:
    the columns of ``object_metadata`` for that version (``s3meta.domain.versions``)."""

    __tablename__ = "object_versions"
    __table_args__ = (
        sa.UniqueConstraint(
            "bucket", "object_key", "version_id", name="uq_object_versions_bucket_key_version"
        ),
        _MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(BucketName)
    object_key: Mapped[str] = mapped_column(ObjectKey)
    version_id: Mapped[str] = mapped_column(VersionId)
    is_delete_marker: Mapped[bool] = mapped_column(sa.Boolean, default=False)


# Every other column of object_metadata, the same in object_versions.
for _column in ObjectMetadata.__table__.columns:
    if _column.name not in ObjectVersion.__table__.columns:
        ObjectVersion.__table__.append_column(_column._copy())  # type: ignore[attr-defined]


class TaskAttempt(Base):
    """One row per run of ``extract_metadata``: why a key failed stays visible after retries."""

    __tablename__ = "task_attempts"
    __table_args__ = (
        sa.Index("ix_task_attempts_bucket_object_key", "bucket", "object_key"),
        sa.Index("ix_task_attempts_outcome_finished_at", "outcome", "finished_at"),
        sa.Index("ix_task_attempts_task_id", "task_id"),
        _MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(sa.String(155))
    bucket: Mapped[str] = mapped_column(BucketName)
    object_key: Mapped[str] = mapped_column(ObjectKey)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    error_type: Mapped[str | None] = mapped_column(sa.String(128))
    error: Mapped[str | None] = mapped_column(LongText)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JournalEntry(Base):
    """One row per change applied to ``object_metadata``: what happened to each key, in order.

    The same idea as Amazon S3 Metadata's journal table.
    """

    __tablename__ = "object_journal"
    __table_args__ = (
        sa.Index("ix_object_journal_bucket_object_key", "bucket", "object_key"),
        _MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(BucketName)
    object_key: Mapped[str] = mapped_column(ObjectKey)
    record_type: Mapped[str] = mapped_column(sa.String(16))  # CREATE, UPDATE_METADATA, DELETE
    version_id: Mapped[str | None] = mapped_column(sa.String(1024))
    etag: Mapped[str | None] = mapped_column(sa.String(128))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    sequencer: Mapped[str | None] = mapped_column(sa.String(64))
    event_name: Mapped[str | None] = mapped_column(sa.String(64))
    event_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    task_id: Mapped[str | None] = mapped_column(sa.String(155))
    # Who and how, from the change's event (revision 0004).
    principal_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["principal_id"]))
    source_ip_address: Mapped[str | None] = mapped_column(sa.String(WIDTHS["source_ip_address"]))
    request_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["request_id"]))
    host_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["host_id"]))
    configuration_id: Mapped[str | None] = mapped_column(sa.String(WIDTHS["configuration_id"]))


class ChangeOutbox(Base):
    """One row per journal entry the change feed has yet to publish (``s3meta relay``).

    Written in the transaction of its entry, deleted once the entry is published: a change
    committed is published even if the process dies right after the commit.
    """

    __tablename__ = "change_outbox"
    __table_args__ = (
        sa.Index("ix_change_outbox_key_hash_id", "key_hash", "id"),
        _MYSQL_TABLE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    journal_id: Mapped[int] = mapped_column(sa.BigInteger)  # object_journal.id
    # s3meta.domain.changes.key_hash of the entry's bucket and key: a key's rows, in order.
    key_hash: Mapped[int] = mapped_column(sa.BigInteger)


class PrefixTotal(Base):
    """One shard of the objects and bytes under a prefix of a bucket, in one storage class.

    Kept by ``db.store`` in each row change's transaction, by the rules of
    ``s3meta.domain.totals``; a total is the sum of its shards.
    """

    __tablename__ = "prefix_totals"
    # The depth leads the prefix in the primary key, InnoDB's clustered index: du reads the
    # prefixes of a few levels under one prefix as one range of the table per level.
    __table_args__ = (_MYSQL_TABLE,)

    bucket: Mapped[str] = mapped_column(BucketName, primary_key=True)
    depth: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    prefix: Mapped[str] = mapped_column(ObjectKey, primary_key=True)
    storage_class: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    shard: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    object_count: Mapped[int] = mapped_column(sa.BigInteger)
    byte_count: Mapped[int] = mapped_column(sa.BigInteger)
