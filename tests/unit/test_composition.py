"""``s3meta.composition``: parts built from the settings; the database secret read only when
a process asks for the database, and a worker's Celery results follow it. (The metrics:
tests/unit/test_metrics_publisher.py, through ``tasks.metrics``.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from db.reader import open_reader
from s3meta import composition, masking
from s3meta.config import get_settings, load_settings
from s3meta.domain.objects import ObjectState
from tasks import runtime, startup

pytestmark = pytest.mark.usefixtures("isolated_environment")

PASSWORD = "pw-from-the-vault"


@pytest.fixture(autouse=True)
def forgotten_secrets() -> Iterator[None]:
    saved = masking._secrets
    yield
    masking._secrets = saved
    runtime._database_url.cache_clear()


@pytest.fixture
def secret_arn(fake_aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret in moto (in process) that the settings name, for a database without one."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("secretsmanager", region_name="us-east-1")
    secret = {"username": "app", "password": PASSWORD, "host": "db.internal", "dbname": "meta"}
    arn = str(client.create_secret(Name="s3meta/db", SecretString=json.dumps(secret))["ARN"])
    monkeypatch.setenv("S3META_DATABASE_URL", "mysql+pymysql://")
    monkeypatch.setenv("S3META_DATABASE_SECRET_ARN", arn)
    get_settings.cache_clear()
    return arn


def test_the_settings_name_the_secret_but_do_not_read_it(secret_arn: str) -> None:
    settings = get_settings()

    assert settings.database_secret_arn == secret_arn
    assert settings.database_url == "mysql+pymysql://"
    assert masking.redact(PASSWORD) == PASSWORD


def test_the_database_url_takes_the_secrets_credentials_and_masks_its_password(
    secret_arn: str,
) -> None:
    url = composition.database_url(get_settings())

    assert url == f"mysql+pymysql://app:{PASSWORD}@db.internal/meta"
    assert masking.redact(f"denied for {PASSWORD}") == "denied for ***"


def test_a_worker_gives_celery_the_completed_url_at_start(secret_arn: str) -> None:
    conf = SimpleNamespace(result_backend="db+mysql+pymysql://")

    startup._complete_database_url(conf=conf)

    assert conf.result_backend == f"db+mysql+pymysql://app:{PASSWORD}@db.internal/meta"
    assert runtime.database_url() == conf.result_backend.removeprefix("db+")


def test_an_explicit_result_backend_stays_as_it_is(
    secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3META_RESULT_BACKEND", "db+sqlite:///results.db")
    get_settings.cache_clear()
    conf = SimpleNamespace(result_backend=None)

    startup._complete_database_url(conf=conf)

    assert conf.result_backend == "db+sqlite:///results.db"


def test_a_worker_whose_secret_cannot_be_read_stops_with_one_line(
    secret_arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3META_DATABASE_SECRET_ARN", "s3meta/missing")
    get_settings.cache_clear()

    with pytest.raises(SystemExit) as stopped:
        startup._complete_database_url(conf=SimpleNamespace(result_backend=None))

    message = str(stopped.value.code)
    assert message.startswith("celery worker: S3META_DATABASE_SECRET_ARN='s3meta/missing': ")
    assert "\n" not in message


def test_the_store_opens_the_database_at_the_url(sqlite_url: str) -> None:
    store = composition.store(sqlite_url)

    assert store.record_attempt is not None
    with open_reader(sqlite_url) as reader:
        assert reader.get("bucket-a", "k") is None


def test_the_storage_reads_s3_with_the_settings_client(s3: Any) -> None:
    s3.put_object(Bucket="bucket-a", Key="k", Body=b"abc")

    state = composition.storage(load_settings(aws_region="us-east-1")).head("bucket-a", "k")

    assert isinstance(state, ObjectState)
    assert state.size == 3
