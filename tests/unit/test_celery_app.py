"""``tasks.app``: the Celery wiring, read from the settings, and what ``import tasks`` costs."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from celery.app.defaults import DEFAULTS
from celery.concurrency import prefork, solo, thread
from kombu.asynchronous.aws.connection import AsyncHTTPSConnection

from s3meta.compat import kombu as sqs_transport
from s3meta.config import Settings, load_settings
from tasks.app import WAIT_TIME_SECONDS, _keep_result_engines, celery_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("isolated_environment")


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings for a local moto endpoint, a SQLite database and a custom task queue."""
    environment = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "S3META_DATABASE_URL": f"sqlite:///{tmp_path / 'meta.db'}",
        "S3META_TASK_QUEUE": "my-task-queue",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def config(settings: Settings) -> dict[str, Any]:
    return celery_config(settings)


def test_only_json_is_sent_or_accepted(config: dict[str, Any]) -> None:
    assert config["task_serializer"] == "json"
    assert config["result_serializer"] == "json"
    assert config["accept_content"] == ["json"]
    assert config["result_accept_content"] == ["json"]
    assert "pickle" not in config["accept_content"]


def test_tasks_are_acked_late_and_rejected_when_the_worker_is_lost(
    config: dict[str, Any],
) -> None:
    assert config["task_acks_late"] is True
    assert config["task_reject_on_worker_lost"] is True


def test_the_default_queue_is_the_task_queue_setting(
    config: dict[str, Any], settings: Settings
) -> None:
    assert config["task_default_queue"] == "my-task-queue" == settings.task_queue


def test_the_hard_time_limit_is_below_the_visibility_timeout(config: dict[str, Any]) -> None:
    visibility = config["broker_transport_options"]["visibility_timeout"]

    assert visibility == 1800
    assert config["task_time_limit"] < visibility


def test_the_soft_time_limit_is_below_the_hard_one(config: dict[str, Any]) -> None:
    assert 0 < config["task_soft_time_limit"] < config["task_time_limit"]


@pytest.mark.parametrize(
    "time_limit",
    [
        1,
        2,
        15,
        16,
        300,
        1000,
    ],
)
def test_the_soft_time_limit_is_below_the_hard_one_for_any_limit(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, time_limit: int
) -> None:
    monkeypatch.setenv("S3META_TASK_TIME_LIMIT", str(time_limit))

    config = celery_config(load_settings())

    assert config["task_time_limit"] == time_limit
    assert 0 < config["task_soft_time_limit"] < config["task_time_limit"]


def test_sqs_long_polls_end_well_before_kombus_http_client_gives_up(
    config: dict[str, Any],
) -> None:
    client_timeout = inspect.signature(AsyncHTTPSConnection).parameters["timeout"].default
    assert config["broker_transport_options"]["wait_time_seconds"] == WAIT_TIME_SECONDS
    # A poll SQS answers after the client gave up loses its messages for the visibility timeout.
    assert client_timeout >= WAIT_TIME_SECONDS + 5


def test_the_broker_follows_the_local_endpoint(config: dict[str, Any]) -> None:
    assert config["broker_url"] == "sqs://testing:testing@127.0.0.1:5000"
    assert config["broker_transport_options"]["is_secure"] is False
    assert config["broker_transport_options"]["region"] == "eu-west-1"


def test_an_sqs_broker_connects_through_s3metas_fixed_transport(
    config: dict[str, Any],
) -> None:
    app = Celery("probe", set_as_current=False)
    app.conf.update(config)

    with app.connection_for_write() as connection:
        assert connection.transport_cls is not None
        assert issubclass(connection.get_transport_cls(), sqs_transport.Transport)
        assert connection.hostname == "127.0.0.1"
        assert connection.port == 5000


def test_an_https_endpoint_makes_the_transport_secure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://sqs.example.test")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    config = celery_config(load_settings())

    assert config["broker_transport_options"]["is_secure"] is True


def test_plain_aws_uses_sqs_without_credentials_in_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-west-2")

    config = celery_config(load_settings())

    assert config["broker_url"] == "sqs://"
    assert config["broker_transport_options"]["region"] == "us-west-2"


def test_the_result_backend_is_the_database(config: dict[str, Any], settings: Settings) -> None:
    assert config["result_backend"] == f"db+{settings.database_url}"
    assert config["result_extended"] is True


def test_celery_does_not_create_its_own_tables(config: dict[str, Any]) -> None:
    assert config["database_create_tables_at_setup"] is False


def test_the_visibility_timeout_and_prefetch_come_from_the_settings(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setenv("S3META_VISIBILITY_TIMEOUT", "3600")
    monkeypatch.setenv("S3META_WORKER_PREFETCH_MULTIPLIER", "1")

    config = celery_config(load_settings())

    assert config["broker_transport_options"]["visibility_timeout"] == 3600
    assert config["worker_prefetch_multiplier"] == 1


def test_every_key_is_a_celery_setting(config: dict[str, Any]) -> None:
    # A misspelt setting is silently ignored by Celery.
    assert set(config) - set(DEFAULTS) == set()


# The process-level behaviour ---------------------------------------------------------------


def child_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This environment without AWS_*/S3META_* and without ~/.aws, plus ``extra``."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "S3META_"))
    }
    environment["AWS_CONFIG_FILE"] = str(tmp_path / "no-such-aws-config")
    environment["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-such-aws-credentials")
    environment.update(extra)
    return environment


def run_python(code: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


NO_NETWORK = """
import socket

def refuse(*args, **kwargs):
    raise RuntimeError("network at import")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
"""


def test_importing_tasks_does_no_network_io(tmp_path: Path) -> None:
    code = NO_NETWORK + "import tasks\nprint(tasks.extract_metadata.name)\n"
    environment = child_environment(
        tmp_path,
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        S3META_DATABASE_URL="mysql+pymysql://root@127.0.0.1:9/x",
    )

    done = run_python(code, environment)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "s3meta.extract_metadata"


def test_importing_tasks_needs_neither_credentials_nor_network(tmp_path: Path) -> None:
    # Without credentials boto3 would look them up on the network (instance metadata), so
    # importing must not read the configuration at all.
    code = NO_NETWORK + "import tasks\nprint('imported')\n"
    environment = child_environment(
        tmp_path,
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        S3META_DATABASE_URL="mysql+pymysql://root@127.0.0.1:9/x",
    )

    done = run_python(code, environment)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_a_bad_setting_stops_the_worker_at_start_with_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    environment = child_environment(tmp_path, S3META_DATABASE_URL="bogus://x")

    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "S3META_DATABASE_URL" in output
    assert "Traceback" not in output
    assert len([line for line in output.splitlines() if "S3META_DATABASE_URL" in line]) == 1


# The registered task -----------------------------------------------------------------------


def test_the_task_is_registered_under_its_public_name(settings: Settings) -> None:
    import tasks
    from tasks.app import app

    registered = app.tasks["s3meta.extract_metadata"]  # finalizes the app: reads the settings

    assert tasks.extract_metadata.name == "s3meta.extract_metadata"
    # ``tasks.extract_metadata`` was made before the app was finalized: a proxy to the task.
    assert registered is tasks.extract_metadata._get_current_object()
    assert registered.name == "s3meta.extract_metadata"


@pytest.mark.parametrize(
    ("pool", "keeps_engines"),
    [
        (thread.TaskPool, True),
        (solo.TaskPool, True),
        (prefork.TaskPool, False),
    ],
)
def test_a_worker_that_never_forks_keeps_its_result_engines(
    tmp_path: Path, pool: type, keeps_engines: bool
) -> None:
    app = Celery("engines", set_as_current=False)
    app.conf.update(result_backend=f"db+sqlite:///{tmp_path / 'results.db'}")
    worker = SimpleNamespace(pool_cls=pool, app=app)

    _keep_result_engines(sender=worker)

    assert app.backend.session_manager.forked is keeps_engines


def test_a_worker_runs_eight_threads_unless_told_otherwise(config: dict[str, Any]) -> None:
    assert config["worker_pool"] == "threads"
    assert config["worker_concurrency"] == 8


def test_acks_are_batched_within_the_configured_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3META_ACK_BATCH_DELAY", "0.5")

    options = celery_config(load_settings())["broker_transport_options"]

    assert options["ack_batch_delay"] == 0.5


def test_acks_are_batched_within_a_second_by_default(config: dict[str, Any]) -> None:
    assert config["broker_transport_options"]["ack_batch_delay"] == 1.0


def test_a_stopping_worker_reads_its_poll_in_flight_for_a_second_unless_told(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S3META_STOP_RECEIVE_WAIT", "4")

    options = celery_config(load_settings())["broker_transport_options"]

    assert config["broker_transport_options"]["stop_receive_wait"] == 1.0
    assert options["stop_receive_wait"] == 4.0


def test_a_negative_ack_batch_delay_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from s3meta.errors import ConfigError

    monkeypatch.setenv("S3META_ACK_BATCH_DELAY", "-1")

    with pytest.raises(ConfigError, match="S3META_ACK_BATCH_DELAY"):
        load_settings()
