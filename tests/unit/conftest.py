"""Fixtures for unit tests: an isolated environment, S3 and SQS from moto in process, SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
import sqlalchemy as sa
from moto import mock_aws

from db.engine import create_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

BUCKET = "bucket-a"
QUEUE = "queue"


@pytest.fixture
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No AWS_* or S3META_* variable, no stray .env, no ~/.aws, no cached settings."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3META_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-such-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process, with made-up credentials and no other AWS_* variable."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@pytest.fixture
def s3(fake_aws: None) -> S3Client:
    """An S3 client on moto in process, with bucket ``BUCKET``."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def sqs(fake_aws: None) -> SQSClient:
    """An SQS client on moto in process, with queue ``QUEUE``."""
    client = boto3.client("sqs", region_name="us-east-1")
    client.create_queue(QueueName=QUEUE)
    return client


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    """An engine on a SQLite database migrated to head."""
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: sa.Engine) -> MetadataStore:
    """The writer on the SQLite database of ``engine`` (the root conftest's runs on MySQL too)."""
    return MetadataStore(engine)


@pytest.fixture
def reader(engine: sa.Engine) -> ObjectReader:
    """A reader on the SQLite database of ``engine``."""
    return ObjectReader(engine)
