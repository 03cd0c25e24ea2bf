"""``s3meta.aws.clients``: boto3 resolves endpoints, region and retries; s3meta adds only what
boto3 cannot know (the ``.env`` file, ``AWS_REGION``, a region fallback, the broker URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kombu.utils.url import url_to_parts

from s3meta.aws.clients import (
    broker_url,
    cloudwatch_client,
    region,
    s3_client,
    secretsmanager_client,
    sns_client,
    sqs_client,
)
from s3meta.config import load_settings
from s3meta.errors import ConfigError

pytestmark = pytest.mark.usefixtures("isolated_environment")


def config_of(client: Any) -> Any:
    """The botocore ``Config`` a client was built with, as botocore resolved it."""
    return client.meta.config


def set_credentials(monkeypatch: pytest.MonkeyPatch, key: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


# The broker URL -----------------------------------------------------------------------------


def test_without_an_endpoint_the_broker_is_plain_sqs() -> None:
    settings = load_settings()

    assert broker_url(settings) == "sqs://"
    assert settings.broker_is_secure() is True


@pytest.mark.parametrize(
    ("endpoint", "url", "secure"),
    [
        ("http://127.0.0.1:5000", "sqs://KEY:SECRET@127.0.0.1:5000", False),
        ("https://sqs.example.test", "sqs://KEY:SECRET@sqs.example.test", True),
    ],
)
def test_an_endpoint_becomes_the_broker_host_with_the_credentials_secure_if_https(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, url: str, secure: bool
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    set_credentials(monkeypatch, "KEY", "SECRET")

    settings = load_settings()

    assert broker_url(settings) == url
    assert settings.broker_is_secure() is secure


def test_a_secret_with_slash_and_plus_is_percent_quoted_and_round_trips_through_kombu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "wJalr/XUtnFEMI+K7MDENG/bPxRfi=CY@x:y%z"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    set_credentials(monkeypatch, "AKIA/EXAMPLE+1", secret)

    url = broker_url(load_settings())

    userinfo = url.removeprefix("sqs://").rpartition("@")[0]
    assert "/" not in userinfo
    assert "+" not in userinfo
    parts = url_to_parts(url)
    assert parts.scheme == "sqs"
    assert parts.hostname == "127.0.0.1"
    assert parts.port == 5000
    assert parts.username == "AKIA/EXAMPLE+1"
    assert parts.password == secret


def test_an_ipv6_endpoint_gives_a_parseable_broker_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://[::1]:5000")
    set_credentials(monkeypatch, "KEY", "SECRET")

    parts = url_to_parts(broker_url(load_settings()))

    assert (parts.hostname, parts.port) == ("::1", 5000)


def test_an_explicit_broker_url_wins_over_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("S3META_BROKER_URL", "sqs://explicit:creds@broker.example:4566")

    # No credentials are set: an explicit URL must not need them.
    assert broker_url(load_settings()) == "sqs://explicit:creds@broker.example:4566"


def test_an_endpoint_without_any_credentials_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    settings = load_settings()

    with pytest.raises(ConfigError) as caught:
        broker_url(settings)

    message = str(caught.value)
    assert "AWS_ENDPOINT_URL" in message
    assert "AWS_ACCESS_KEY_ID" in message
    assert "S3META_BROKER_URL" in message


def test_credentials_from_the_shared_credentials_file_are_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = FILESECRET\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4566")

    assert broker_url(load_settings()) == "sqs://FILEKEY:FILESECRET@localhost:4566"


# The region ---------------------------------------------------------------------------------


def test_aws_region_wins_over_aws_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")

    assert region(load_settings()) == "eu-central-1"


def test_aws_default_region_is_used_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")

    assert region(load_settings()) == "us-west-2"


def test_without_any_region_the_region_is_us_east_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty_config = tmp_path / "aws-config"
    empty_config.write_text("", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty_config))

    assert region(load_settings()) == "us-east-1"
    assert sns_client(load_settings()).meta.region_name == "us-east-1"


def test_the_region_of_the_aws_config_file_is_honoured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = ap-southeast-2\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    assert region(load_settings()) == "ap-southeast-2"


# What boto3 resolves itself -----------------------------------------------------------------


def test_each_service_takes_its_own_endpoint_variable_before_the_general_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general.example:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://sqs.example:9324")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://vault.example:8200")
    settings = load_settings()

    assert sqs_client(settings).meta.endpoint_url == "http://sqs.example:9324"
    assert secretsmanager_client(settings).meta.endpoint_url == "http://vault.example:8200"
    assert sns_client(settings).meta.endpoint_url == "http://general.example:4566"
    assert cloudwatch_client(settings).meta.endpoint_url == "http://general.example:4566"


def test_s3_takes_aws_endpoint_url_s3_before_aws_endpoint_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general.example:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3.example:9000")

    assert s3_client(load_settings()).meta.endpoint_url == "http://s3.example:9000"


def test_an_endpoint_only_the_dotenv_file_holds_is_handed_to_boto3(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "AWS_ENDPOINT_URL=http://dotenv.example:4566\n"
        "AWS_ENDPOINT_URL_S3=http://dotenv-s3.example:9000\n",
        encoding="utf-8",
    )
    settings = load_settings()

    assert sqs_client(settings).meta.endpoint_url == "http://dotenv.example:4566"
    assert s3_client(settings).meta.endpoint_url == "http://dotenv-s3.example:9000"


def test_an_endpoint_given_in_code_is_handed_to_boto3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general.example:4566")

    settings = load_settings(aws_endpoint_url="http://in-code.example:4566")

    assert sns_client(settings).meta.endpoint_url == "http://in-code.example:4566"


def test_without_any_endpoint_the_clients_use_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    assert sqs_client(load_settings()).meta.endpoint_url == "https://sqs.eu-west-1.amazonaws.com"


def test_aws_region_reaches_every_client_although_botocore_reads_only_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    settings = load_settings()

    assert sqs_client(settings).meta.region_name == "eu-central-1"
    assert s3_client(settings).meta.region_name == "eu-central-1"


def test_without_the_users_retry_settings_each_client_has_its_own_budget() -> None:
    settings = load_settings(s3_max_attempts=2)

    assert config_of(s3_client(settings)).retries == {"mode": "standard", "total_max_attempts": 2}
    assert config_of(cloudwatch_client(settings)).retries == {
        "mode": "standard",
        "total_max_attempts": 2,
    }
    assert config_of(sqs_client(settings)).retries == {"mode": "standard", "total_max_attempts": 5}


def test_aws_max_attempts_and_aws_retry_mode_win_over_the_clients_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    settings = load_settings()

    for client in (s3_client(settings), sqs_client(settings), secretsmanager_client(settings)):
        assert config_of(client).retries == {"mode": "adaptive", "total_max_attempts": 7}


def test_the_config_files_max_attempts_wins_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nmax_attempts = 9\nretry_mode = legacy\n", encoding="utf-8")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))

    retries = config_of(sqs_client(load_settings())).retries

    assert retries == {"mode": "legacy", "total_max_attempts": 9}


def test_the_s3_client_keeps_its_timeouts() -> None:
    config = config_of(s3_client(load_settings()))

    assert (config.connect_timeout, config.read_timeout) == (5, 30)
