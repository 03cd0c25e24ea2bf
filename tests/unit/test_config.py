"""``s3meta.config``: the environment variables of SPEC's interface contract."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from s3meta import masking
from s3meta.aws.clients import broker_url, region
from s3meta.config import (
    DEFAULT_DATABASE_URL,
    Settings,
    get_settings,
    health_file,
    known_variables,
    load_settings,
    unknown_variable_warnings,
)
from s3meta.errors import ConfigError
from s3meta.processes import free_port

pytestmark = pytest.mark.usefixtures("isolated_environment")


def config_error(monkeypatch: pytest.MonkeyPatch, **environment: str) -> str:
    """The message of the ``ConfigError`` that ``load_settings`` raises under ``environment``."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return str(caught.value)


def names_variable(message: str, variable: str) -> bool:
    """Whether ``message`` names ``variable`` itself (not a longer name that ends with it)."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(variable)}=", message) is not None


# Defaults -----------------------------------------------------------------------------------


def test_the_defaults_match_the_spec() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite:///s3meta.db" == DEFAULT_DATABASE_URL
    assert settings.events_queue == "s3meta-events"
    assert settings.task_queue == "s3meta-tasks"
    assert settings.dead_letter_queue == "s3meta-events-dlq"
    assert settings.broker_url is None
    assert settings.result_backend is None
    assert settings.aws_endpoint_url is None


def test_the_default_result_backend_is_db_plus_the_database_url() -> None:
    assert load_settings().celery_result_backend == "db+sqlite:///s3meta.db"


def test_the_derived_result_backend_follows_the_database_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3META_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

    settings = load_settings()

    assert settings.celery_result_backend == "db+mysql+pymysql://root@127.0.0.1:3306/test"


def test_the_defaults_keep_the_timing_rule() -> None:
    settings = load_settings()

    assert settings.retry_backoff_max + settings.task_time_limit < settings.visibility_timeout


# Reading the environment --------------------------------------------------------------------


def test_every_s3meta_variable_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {
        "S3META_DATABASE_URL": "mysql+pymysql://root@db.example:3306/meta",
        "S3META_BROKER_URL": "sqs://",
        "S3META_RESULT_BACKEND": "db+sqlite:///results.db",
        "S3META_EVENTS_QUEUE": "my-events",
        "S3META_TASK_QUEUE": "my_tasks",
        "S3META_DEAD_LETTER_QUEUE": "my-dlq",
        "S3META_MAX_RETRIES": "3",
        "S3META_RETRY_BACKOFF": "5",
        "S3META_RETRY_BACKOFF_MAX": "100",
        "S3META_TASK_TIME_LIMIT": "60",
        "S3META_VISIBILITY_TIMEOUT": "300",
        "S3META_WORKER_PREFETCH_MULTIPLIER": "1",
        "S3META_S3_MAX_ATTEMPTS": "2",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5001",
        "AWS_REGION": "eu-west-1",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = load_settings()

    assert settings.database_url == "mysql+pymysql://root@db.example:3306/meta"
    assert settings.broker_url == "sqs://"
    assert settings.result_backend == "db+sqlite:///results.db"
    assert settings.celery_result_backend == "db+sqlite:///results.db"
    assert settings.events_queue == "my-events"
    assert settings.task_queue == "my_tasks"
    assert settings.dead_letter_queue == "my-dlq"
    assert settings.max_retries == 3
    assert settings.retry_backoff == 5
    assert settings.retry_backoff_max == 100
    assert settings.task_time_limit == 60
    assert settings.visibility_timeout == 300
    assert settings.worker_prefetch_multiplier == 1
    assert settings.s3_max_attempts == 2
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.s3_endpoint_url == "http://127.0.0.1:5001"
    assert region(settings) == "eu-west-1"


def test_a_fifo_queue_name_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3META_TASK_QUEUE", "s3meta-tasks.fifo")

    assert load_settings().task_queue == "s3meta-tasks.fifo"


def test_an_empty_aws_endpoint_url_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")

    settings = load_settings()

    assert settings.aws_endpoint_url is None
    assert broker_url(settings) == "sqs://"


def test_keyword_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3META_TASK_QUEUE", "from-environment")

    assert load_settings(task_queue="from-override").task_queue == "from-override"


def test_settings_are_frozen() -> None:
    settings = load_settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.task_queue = "other"


# The .env file ------------------------------------------------------------------------------


def test_a_dotenv_file_in_the_working_directory_adds_settings(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "S3META_TASK_QUEUE=from-dotenv\nS3META_DATABASE_URL=sqlite:///dotenv.db\n"
        "AWS_REGION=ap-south-1\n",
        encoding="utf-8",
    )

    settings = load_settings()

    assert settings.task_queue == "from-dotenv"
    assert settings.database_url == "sqlite:///dotenv.db"
    assert settings.celery_result_backend == "db+sqlite:///dotenv.db"
    assert region(settings) == "ap-south-1"


def test_the_real_environment_wins_over_the_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "S3META_TASK_QUEUE=from-dotenv\nS3META_EVENTS_QUEUE=events-from-dotenv\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("S3META_TASK_QUEUE", "from-environment")

    settings = load_settings()

    assert settings.task_queue == "from-environment"
    assert settings.events_queue == "events-from-dotenv"


def test_a_bad_value_in_the_dotenv_file_names_the_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("S3META_MAX_RETRIES=lots\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert names_variable(str(caught.value), "S3META_MAX_RETRIES")


def test_a_dotenv_file_elsewhere_is_not_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("S3META_TASK_QUEUE=from-dotenv\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert load_settings().task_queue == "s3meta-tasks"


def test_aws_credentials_in_the_dotenv_file_are_used_for_the_broker_url(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "AWS_ENDPOINT_URL=http://127.0.0.1:5000\n"
        "AWS_ACCESS_KEY_ID=dotenv-key\n"
        "AWS_SECRET_ACCESS_KEY=dotenv-secret\n",
        encoding="utf-8",
    )

    settings = load_settings()

    assert broker_url(settings) == "sqs://dotenv-key:dotenv-secret@127.0.0.1:5000"


# Invalid values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "explanation"),
    [
        ("S3META_DATABASE_URL", "not a url", "not a database URL"),
        ("S3META_DATABASE_URL", "oracle2://x", "unknown database 'oracle2'"),
        ("S3META_DATABASE_URL", "mysql+nosuchdriver://u@h/db", "no SQLAlchemy driver"),
        ("S3META_DATABASE_URL", "mysql://u@h/db", "write mysql+pymysql://"),
        ("S3META_DATABASE_URL", "mariadb://u@h/db", "write mariadb+pymysql://"),
        ("S3META_DATABASE_URL", "postgresql://u@h/db", "pip install 'psycopg[binary]'"),
        ("S3META_RESULT_BACKEND", "db+mysql://u@h/db", "write mysql+pymysql://"),
        ("S3META_BROKER_URL", "foo://x", "unknown broker scheme 'foo'"),
        ("S3META_BROKER_URL", "nonsense", "unknown broker scheme ''"),
        ("S3META_RESULT_BACKEND", "mysql+pymysql://u@h/db", "db+"),
        ("S3META_RESULT_BACKEND", "redis://localhost", "db+"),
        ("S3META_RESULT_BACKEND", "db+oracle2://x", "unknown database 'oracle2'"),
        ("S3META_TASK_QUEUE", "bad name", "queue name"),
        ("S3META_TASK_QUEUE", " ", "queue name"),
        ("S3META_EVENTS_QUEUE", "q" * 81, "queue name"),
        ("S3META_EVENTS_QUEUE", "events/sub", "queue name"),
        ("S3META_DEAD_LETTER_QUEUE", "dlq.fifo.extra", "queue name"),
        ("S3META_MAX_RETRIES", "many", "integer"),
        ("S3META_MAX_RETRIES", "2.5", "integer"),
        ("S3META_MAX_RETRIES", "-1", "greater than or equal to 0"),
        ("S3META_TASK_TIME_LIMIT", "0", "greater than 0"),
        ("S3META_WORKER_PREFETCH_MULTIPLIER", "0", "greater than or equal to 1"),
        pytest.param("AWS_ENDPOINT_URL", "127.0.0.1:5000", "http"),
        pytest.param("AWS_ENDPOINT_URL", "localhost", "http"),
        pytest.param("AWS_ENDPOINT_URL", "ftp://host", "http"),
        pytest.param("AWS_ENDPOINT_URL_S3", "localhost", "http"),
    ],
)
def test_an_invalid_value_raises_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, explanation: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})

    assert names_variable(message, variable), message
    assert explanation in message


def test_an_aws_endpoint_url_without_a_scheme_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, AWS_ENDPOINT_URL="127.0.0.1:5000")

    assert "AWS_ENDPOINT_URL" in message
    assert "'127.0.0.1:5000'" in message
    assert "http:// or https://" in message


def test_a_database_url_with_an_unknown_scheme_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, S3META_DATABASE_URL="oracle2://x")

    assert names_variable(message, "S3META_DATABASE_URL")
    assert "oracle2://x" in message


def test_every_bad_variable_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    message = config_error(
        monkeypatch, S3META_DATABASE_URL="oracle2://x", S3META_TASK_QUEUE="bad name"
    )

    assert names_variable(message, "S3META_DATABASE_URL")
    assert names_variable(message, "S3META_TASK_QUEUE")


def test_a_queue_name_with_a_trailing_newline_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = config_error(monkeypatch, S3META_TASK_QUEUE="s3meta-tasks\n")

    assert names_variable(message, "S3META_TASK_QUEUE")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("S3META_DATABASE_URL", "oracle2://u:hunter2@[h/db"),
        ("S3META_BROKER_URL", "sqs://u:hunter2@[h"),
        ("AWS_ENDPOINT_URL", "http://[::1"),
    ],
)
def test_a_url_with_an_unclosed_bracket_still_gives_a_config_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})

    assert variable in message
    assert "hunter2" not in message


# The timing rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff_max", "time_limit", "visibility"),
    [
        ("600", "1300", "1800"),
        ("600", "1200", "1800"),  # equal is already too long
        ("10", "10", "15"),
    ],
)
def test_the_timing_rule_mentions_the_three_variables(
    monkeypatch: pytest.MonkeyPatch, backoff_max: str, time_limit: str, visibility: str
) -> None:
    message = config_error(
        monkeypatch,
        S3META_RETRY_BACKOFF_MAX=backoff_max,
        S3META_TASK_TIME_LIMIT=time_limit,
        S3META_VISIBILITY_TIMEOUT=visibility,
    )

    assert "S3META_RETRY_BACKOFF_MAX" in message
    assert "S3META_TASK_TIME_LIMIT" in message
    assert "S3META_VISIBILITY_TIMEOUT" in message


def test_the_timing_rule_allows_a_hold_just_below_the_visibility_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3META_RETRY_BACKOFF_MAX", "600")
    monkeypatch.setenv("S3META_TASK_TIME_LIMIT", "1199")
    monkeypatch.setenv("S3META_VISIBILITY_TIMEOUT", "1800")

    assert load_settings().task_time_limit == 1199


# Passwords ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("S3META_DATABASE_URL", "mysql+nosuchdriver://u:hunter2@h/db"),
        ("S3META_DATABASE_URL", "oracle2://scott:hunter2@h:1521/orcl"),
        ("S3META_DATABASE_URL", "mysql+nosuchdriver://u:hunt@er2@h/db"),
        ("S3META_RESULT_BACKEND", "db+mysql+nosuchdriver://u:hunter2@h/db"),
        ("S3META_RESULT_BACKEND", "mysql+pymysql://u:hunter2@h/db"),
        ("S3META_BROKER_URL", "foo://u:hunter2@h"),
    ],
)
def test_a_password_in_a_bad_url_is_masked_in_the_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = config_error(monkeypatch, **{variable: value})

    assert names_variable(message, variable)
    assert "hunter2" not in message
    assert "hunt@er2" not in message
    assert "***" in message


def test_settings_can_be_built_directly_by_field_name() -> None:
    settings = Settings(aws_region="sa-east-1", aws_endpoint_url="https://x.example")

    assert region(settings) == "sa-east-1"
    assert settings.aws_endpoint_url == "https://x.example"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in ("S3META_TASK_QUEUE", "S3META_DATABASE_SECRET_ARN", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(variable, "")

    settings = load_settings()

    assert settings.task_queue == "s3meta-tasks"
    assert settings.database_secret_arn is None
    assert settings.aws_endpoint_url is None


# Parsing only -------------------------------------------------------------------------------


def test_reading_the_settings_reads_no_secret_and_masks_nothing_new(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    saved = masking._secrets
    # Nothing answers there: a call to Secrets Manager would fail.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("S3META_DATABASE_URL", "mysql+pymysql://app:hunter2pw@db.internal/meta")
    monkeypatch.setenv("S3META_DATABASE_SECRET_ARN", "s3meta/database")

    settings = get_settings()

    assert settings.database_url == "mysql+pymysql://app:hunter2pw@db.internal/meta"
    assert settings.database_secret_arn == "s3meta/database"
    assert masking._secrets == saved


def test_the_health_file_is_read_alone_even_beside_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3META_HEALTH_FILE", str(tmp_path / "alive"))
    monkeypatch.setenv("S3META_MAX_RETRIES", "lots")

    assert health_file() == tmp_path / "alive"


# Unknown S3META_ variables ------------------------------------------------------------------


def test_a_misspelt_variable_is_warned_about_with_the_closest_known_name(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("S3META_DATABSE_URL", "sqlite:///elsewhere.db")

    with caplog.at_level(logging.WARNING, logger="s3meta.config"):
        get_settings()

    assert caplog.messages == [
        "S3META_DATABSE_URL is not an s3meta setting and is ignored "
        "(did you mean S3META_DATABASE_URL?)"
    ]


def test_a_misspelt_variable_in_the_dotenv_file_is_warned_about_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".env").write_text("S3META_TASK_QEUE=tasks\n", encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="s3meta.config"):
        get_settings()

    assert caplog.messages == [
        "S3META_TASK_QEUE is not an s3meta setting and is ignored (did you mean S3META_TASK_QUEUE?)"
    ]


def test_known_variables_and_the_test_suites_own_raise_no_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("S3META_TASK_QUEUE", "S3META_BUCKETS", "S3META_WORKER_CONCURRENCY"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("S3META_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1")

    with caplog.at_level(logging.WARNING, logger="s3meta.config"):
        get_settings()

    assert caplog.messages == []


def test_an_unknown_name_far_from_any_known_one_gets_no_guess() -> None:
    assert unknown_variable_warnings({"S3META_ZZZZ": "1"}) == [
        "S3META_ZZZZ is not an s3meta setting and is ignored"
    ]


def test_every_variable_s3meta_reads_is_in_the_readme_configuration_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(S3META_[A-Z0-9_]+)`", table))

    # The image names belong to docker-compose.yml, documented with it.
    missing = known_variables() - documented - {"S3META_IMAGE", "S3META_MOTO_IMAGE"}
    assert missing == set()
