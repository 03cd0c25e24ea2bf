"""The database password from Secrets Manager (moto in process): every process that opens the
database gets the completed URL (``s3meta.composition.database_url``); every failure is one
line naming the variable, never the secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from sqlalchemy.engine import make_url

from s3meta import composition, masking
from s3meta.config import get_settings
from s3meta.errors import ConfigError
from s3meta.processes import free_port

PASSWORD = "pw-from-the-vault"
RDS_SECRET = {
    "engine": "mysql",
    "username": "app",
    "password": PASSWORD,
    "host": "db.internal",
    "port": 3306,
    "dbname": "meta",
}

pytestmark = pytest.mark.usefixtures("isolated_environment")


@pytest.fixture(autouse=True)
def forgotten_secrets() -> Iterator[None]:
    saved = masking._secrets
    yield
    masking._secrets = saved


@pytest.fixture
def secretsmanager(fake_aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("secretsmanager", region_name="us-east-1")


def store(client: Any, value: str | dict[str, Any], name: str = "s3meta/db") -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return str(client.create_secret(Name=name, SecretString=text)["ARN"])


def settings_url(monkeypatch: pytest.MonkeyPatch, database_url: str, arn: str) -> str:
    monkeypatch.setenv("S3META_DATABASE_URL", database_url)
    monkeypatch.setenv("S3META_DATABASE_SECRET_ARN", arn)
    get_settings.cache_clear()
    return composition.database_url(get_settings())


def config_error(monkeypatch: pytest.MonkeyPatch, database_url: str, arn: str) -> str:
    with pytest.raises(ConfigError) as caught:
        settings_url(monkeypatch, database_url, arn)
    return str(caught.value)


def test_the_secrets_credentials_fill_in_the_database_url(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, RDS_SECRET)

    url = settings_url(monkeypatch, "mysql+pymysql://proxy.local:6033/other?charset=utf8mb4", arn)

    # The URL's host, port and database win: it may name a proxy in front of the database.
    assert url == f"mysql+pymysql://app:{PASSWORD}@proxy.local:6033/other?charset=utf8mb4"


def test_a_bare_url_takes_host_port_and_database_from_an_rds_secret(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, RDS_SECRET)

    url = settings_url(monkeypatch, "mysql+pymysql://", arn)

    assert url == f"mysql+pymysql://app:{PASSWORD}@db.internal:3306/meta"


def test_the_secret_is_found_by_name_as_well_as_by_arn(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(secretsmanager, RDS_SECRET, name="prod/s3meta")

    url = settings_url(monkeypatch, "mysql+pymysql://", "prod/s3meta")

    assert make_url(url).password == PASSWORD


def test_a_plain_string_secret_is_the_password_and_the_urls_user_stays(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, "only:the/password@%")

    url = make_url(settings_url(monkeypatch, "mysql+pymysql://indexer@db.internal/meta", arn))

    assert (url.username, url.password, url.host) == (
        "indexer",
        "only:the/password@%",
        "db.internal",
    )


def test_the_result_backend_follows_and_neither_settings_nor_masking_show_the_password(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, RDS_SECRET)
    url = settings_url(monkeypatch, "mysql+pymysql://", arn)

    settings = get_settings()

    assert composition.result_backend(settings, url) == f"db+{url}"
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)
    assert masking.mask_url(url) == "mysql+pymysql://app:***@db.internal:3306/meta"


def test_the_password_from_the_secret_is_masked_in_logs_from_then_on(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, RDS_SECRET)
    settings_url(monkeypatch, "mysql+pymysql://", arn)

    assert masking.redact(f"login failed with {PASSWORD}") == "login failed with ***"


def test_without_the_variable_the_url_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3META_DATABASE_URL", "mysql+pymysql://u:p4ss@h/db")

    assert composition.database_url(get_settings()) == "mysql+pymysql://u:p4ss@h/db"


def test_a_missing_secret_is_one_line_naming_the_variable(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = config_error(monkeypatch, "mysql+pymysql://", "no-such-secret")

    assert message.startswith("S3META_DATABASE_SECRET_ARN='no-such-secret': no such secret")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"username": "app"}, 'JSON without a "password"'),
        ({"username": "app", "password": ""}, 'JSON without a "password"'),
        ('{"password": "pw-from-the-vault", oops}', "not valid JSON"),
        ({**RDS_SECRET, "port": "not-a-port"}, '"port" is not a port number'),
        ({**RDS_SECRET, "username": 42}, '"username" is not a string'),
    ],
)
def test_a_secret_without_a_usable_password_is_refused_without_showing_it(
    secretsmanager: Any,
    monkeypatch: pytest.MonkeyPatch,
    value: str | dict[str, Any],
    complaint: str,
) -> None:
    arn = store(secretsmanager, value)

    message = config_error(monkeypatch, "mysql+pymysql://", arn)

    assert "S3META_DATABASE_SECRET_ARN" in message
    assert complaint in message
    assert PASSWORD not in message


def test_a_binary_secret_is_refused(secretsmanager: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = secretsmanager.create_secret(Name="binary", SecretBinary=b"\x00pw")["ARN"]

    assert "no SecretString" in config_error(monkeypatch, "mysql+pymysql://", arn)


def test_denied_access_says_which_permission_is_needed(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        "get_secret_value", "AccessDeniedException", "not authorized", http_status_code=400
    )
    stubber.activate()
    monkeypatch.setattr(composition, "secretsmanager_client", lambda _settings: client)

    message = config_error(monkeypatch, "mysql+pymysql://", "s3meta/db")

    assert message.startswith("S3META_DATABASE_SECRET_ARN='s3meta/db': access denied")
    assert "secretsmanager:GetSecretValue" in message


def test_an_unreachable_endpoint_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    message = config_error(monkeypatch, "mysql+pymysql://", "s3meta/db")

    assert message.startswith("S3META_DATABASE_SECRET_ARN='s3meta/db': could not read the secret")
    assert "Could not connect" in message


def test_a_sqlite_url_cannot_take_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(monkeypatch, "sqlite:///meta.db", "s3meta/db")

    assert "S3META_DATABASE_SECRET_ARN" in message
    assert "SQLite" in message


def test_the_api_token_comes_from_its_secret_and_is_masked_from_then_on(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, "api-token-from-the-secret\n", name="s3meta/api-token")
    monkeypatch.setenv("S3META_API_TOKEN_SECRET_ARN", arn)
    get_settings.cache_clear()

    token = composition.api_token(get_settings())

    assert token == "api-token-from-the-secret"
    assert "api-token-from-the-secret" not in masking.redact("sent api-token-from-the-secret")


def test_the_read_replicas_url_is_completed_from_the_same_secret(
    secretsmanager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn = store(secretsmanager, {"username": "reader", "password": "replica0password"})
    monkeypatch.setenv("S3META_DATABASE_READ_URL", "mysql+pymysql://replica.internal/s3meta")
    primary = settings_url(monkeypatch, "mysql+pymysql://primary.internal/s3meta", arn)

    replica = composition.read_database_url(get_settings())

    assert "@primary.internal" in primary
    assert replica.startswith("mysql+pymysql://reader:replica0password@replica.internal")
