"""``s3meta.logs``: text or JSON lines, task fields within a task, secrets masked everywhere."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import click
import pytest
from click.testing import CliRunner

from s3meta import logs, masking
from s3meta.cli.errors import one_line_errors
from s3meta.config import load_settings
from s3meta.errors import ConfigError
from s3meta.logs import (
    JsonLogFormatter,
    TaskContext,
    TaskContextFilter,
    TextFormatter,
    configure_logging,
    task_context,
    task_context_for,
)
from s3meta.masking import register_secret

DATABASE_URL = "mysql+pymysql://u:hunter2secret@h/db"
BROKER_URL = "sqs://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY@host:4566"
REGISTERED = "s3cr3t-from-the-vault"
LEAKS = ("hunter2secret", "wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY", REGISTERED)
CONTEXT = TaskContext("4f1c-task", "s3meta.extract_metadata", "bucket-a", "dir/file.txt")


@pytest.fixture(autouse=True)
def registered_secret() -> Iterator[None]:
    saved = masking._secrets
    register_secret(REGISTERED)
    yield
    masking._secrets = saved


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever ``configure_logging`` changes on the root and library loggers, undone."""
    root = logging.getLogger()
    names = ("celery", *logs.QUIET_LOGGERS)
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    for name, each in levels.items():
        logging.getLogger(name).setLevel(each)


def emit(formatter: logging.Formatter, log: str = "s3meta.test", *, exc: bool = False) -> str:
    """What one handler with ``formatter`` writes for records logged through ``log``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(TaskContextFilter())
    logger = logging.getLogger(log)
    level = logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        if exc:
            try:
                raise RuntimeError(f"cannot reach {DATABASE_URL} or {BROKER_URL}")
            except RuntimeError:
                logger.exception("failed with %s", REGISTERED)
        else:
            logger.info("database %s, broker %s, token %s", DATABASE_URL, BROKER_URL, REGISTERED)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(level)
    return stream.getvalue()


def assert_masked(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text
    assert "***" in text


@pytest.mark.parametrize("formatter", [TextFormatter, JsonLogFormatter])
def test_passwords_in_urls_and_registered_secrets_are_masked_in_the_message(
    formatter: type[logging.Formatter],
) -> None:
    output = emit(formatter())

    assert_masked(output)
    assert "mysql+pymysql://u:***@h/db" in output
    assert "sqs://AKIAIOSFODNN7EXAMPLE:***@host:4566" in output


@pytest.mark.parametrize("formatter", [TextFormatter, JsonLogFormatter])
def test_the_exception_text_is_masked_too(formatter: type[logging.Formatter]) -> None:
    output = emit(formatter(), exc=True)

    assert "RuntimeError" in output
    assert "Traceback" in output
    assert_masked(output)


def test_a_json_line_has_the_time_in_utc_the_level_logger_message_and_process() -> None:
    line = json.loads(emit(JsonLogFormatter()))

    assert list(line)[:1] == ["time"]
    assert datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0)
    assert line["level"] == "INFO"
    assert line["logger"] == "s3meta.test"
    assert line["message"].startswith("database mysql+pymysql://u:***@h/db")
    assert isinstance(line["process"], int)
    assert not set(logs.TASK_FIELDS) & set(line)


def test_a_secret_that_json_would_escape_is_masked_and_the_line_stays_json() -> None:
    register_secret('quote"and\\slash')
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    record = logging.LogRecord("x", logging.INFO, __file__, 1, 'pw=quote"and\\slash', (), None)

    handler.emit(record)

    assert json.loads(stream.getvalue())["message"] == "pw=***"


def test_every_json_line_within_a_task_carries_its_id_name_bucket_and_key() -> None:
    with task_context(CONTEXT):
        line = json.loads(emit(JsonLogFormatter(), log="botocore.credentials"))

    assert line["task_id"] == "4f1c-task"
    assert line["task_name"] == "s3meta.extract_metadata"
    assert line["bucket"] == "bucket-a"
    assert line["key"] == "dir/file.txt"


def test_a_text_line_within_a_task_ends_with_the_task_id_and_the_object() -> None:
    with task_context(CONTEXT):
        output = emit(TextFormatter(), exc=True)

    first = output.splitlines()[0]
    assert first.endswith("failed with *** [4f1c-task s3://bucket-a/dir/file.txt]")


def test_lines_after_the_task_carry_no_task_fields() -> None:
    with task_context(CONTEXT):
        pass

    assert "task_id" not in json.loads(emit(JsonLogFormatter()))


def test_celerys_received_line_gets_the_task_fields_from_the_arguments_it_carries() -> None:
    data = {
        "id": "9d2e-task",
        "name": "s3meta.extract_metadata",
        "args": "('bucket-b', 'a key.txt')",
        "kwargs": "{'event_name': 'ObjectCreated:Put'}",
        "eta": None,
    }
    record = logging.LogRecord(
        "celery.worker.strategy", logging.INFO, __file__, 1, "Task %(name)s[%(id)s] received",
        (data,), None,
    )  # fmt: skip
    record.data = data

    TaskContextFilter().filter(record)
    line = json.loads(JsonLogFormatter().format(record))

    assert line["message"] == "Task s3meta.extract_metadata[9d2e-task] received"
    assert (line["task_id"], line["bucket"], line["key"]) == ("9d2e-task", "bucket-b", "a key.txt")
    assert "data" not in line


def test_arguments_cut_short_by_celery_still_give_the_task_id() -> None:
    data = {
        "id": "cut",
        "name": "s3meta.extract_metadata",
        "args": "('bucket-b', 'ab...",
        "kwargs": "{}",
    }
    record = logging.LogRecord("celery", logging.INFO, __file__, 1, "received", (), None)
    record.data = data

    TaskContextFilter().filter(record)

    assert getattr(record, "task_id", None) == "cut"
    assert not hasattr(record, "bucket")


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("bucket-c", "k"), {"event_name": "ObjectCreated:Put"}),
        (["bucket-c"], {"key": "k"}),
        ((), {"bucket": "bucket-c", "key": "k"}),
    ],
)
def test_bucket_and_key_are_read_from_extract_metadatas_arguments_however_passed(
    args: tuple[str, ...], kwargs: dict[str, str]
) -> None:
    context = task_context_for("id-1", "s3meta.extract_metadata", args, kwargs)

    assert (context.bucket, context.key) == ("bucket-c", "k")


def test_other_tasks_get_only_their_id_and_name() -> None:
    context = task_context_for("id-2", "celery.ping", ("bucket-c", "k"), {})

    assert context.fields() == {"task_id": "id-2", "task_name": "celery.ping"}


def test_very_short_values_are_never_masked() -> None:
    register_secret("abc")

    assert masking.redact("abc def") == "abc def"


@pytest.mark.usefixtures("isolated_environment", "restored_logging")
def test_configure_logging_writes_json_lines_to_stderr_when_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("S3META_LOG_FORMAT", "json")
    monkeypatch.setenv("S3META_DATABASE_URL", "sqlite:///meta.db")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-from-env")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")

    configure_logging()
    logging.getLogger("s3meta.test").warning("key %s", "aws-secret-from-env")

    line = json.loads(capsys.readouterr().err.splitlines()[-1])
    assert line["message"] == "key ***"
    assert line["level"] == "WARNING"


@pytest.mark.usefixtures("isolated_environment", "restored_logging")
def test_configuring_twice_replaces_the_handler_instead_of_doubling_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(settings=load_settings())
    configure_logging(settings=load_settings())
    logging.getLogger("s3meta.test").warning("once")

    assert capsys.readouterr().err.count("once") == 1


@pytest.mark.usefixtures("isolated_environment", "restored_logging")
def test_celerys_lines_stay_at_info_in_a_worker_and_library_chatter_at_warning() -> None:
    configure_logging(logging.INFO, settings=load_settings(), worker=True)

    assert logging.getLogger("celery.apps.worker").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("botocore.credentials").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING

    configure_logging(logging.INFO, settings=load_settings())

    assert logging.getLogger("celery.apps.worker").getEffectiveLevel() == logging.WARNING


@click.command()
@one_line_errors()
def failing() -> None:
    """Fails with every kind of secret in its message."""
    raise ConfigError(f"cannot use {DATABASE_URL} with {BROKER_URL} ({REGISTERED})")


def test_an_error_printed_by_a_command_has_its_secrets_masked() -> None:
    result = CliRunner().invoke(failing, [])

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: cannot use mysql+pymysql://u:***@h/db with "
        "sqs://AKIAIOSFODNN7EXAMPLE:***@host:4566 (***)\n"
    )


HOSTILE = TaskContext("4f1c-task", "s3meta.extract_metadata", "bucket-a", "a\x1b[31m\nb")


def test_a_text_line_escapes_control_characters_of_the_key_and_the_message() -> None:
    with task_context(HOSTILE):
        output = emit(TextFormatter(), exc=True)

    assert "\x1b" not in output
    assert output.splitlines()[0].endswith("[4f1c-task s3://bucket-a/a\\x1b[31m\\nb]")
    assert "Traceback (most recent call last):" in output.splitlines()[1]


def test_a_json_line_keeps_a_key_with_control_characters_exact() -> None:
    with task_context(HOSTILE):
        line = json.loads(emit(JsonLogFormatter()))

    assert line["key"] == "a\x1b[31m\nb"
