"""docker-compose.yml, the Dockerfile, the systemd units and the IAM policies in deploy/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from s3meta.aws.clients import broker_url
from s3meta.cli import main as cli
from s3meta.config import get_settings, load_settings
from tests.support.deployment import (
    APP_SERVICES,
    COMPOSE_FILE,
    DOCKERFILE,
    UNIT_OF_SERVICE,
    UNITS_DIR,
    MissingVariable,
    compose_command,
    interpolate,
    interpolated,
    load_compose,
    load_unit,
    read_env_file,
    unit_command,
)

ROOT = COMPOSE_FILE.parent
DEPLOY = ROOT / "deploy"
SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
ONE_SHOT = ("migrate", "setup")
LOCAL_STAND_INS = ("mysql", "mysql-replica", "redis", "moto")
# The laptop: deploy/compose.env.example with its blanks filled in.
LOCAL_ENV = {
    **read_env_file(DEPLOY / "compose.env.example"),
    "MYSQL_PASSWORD": "laptop0password",
    "FLOWER_BASIC_AUTH": "admin:flower0password",
    "MYSQL_REPLICATION_PASSWORD": "laptop0replication",
    "S3META_API_TOKEN": "laptop0api0token",
}
# Real AWS and RDS: the same file, other variables (the example's commented-out block).
AWS_ENV = {
    "COMPOSE_PROFILES": "",
    "AWS_ENDPOINT_URL": "",
    "AWS_REGION": "eu-west-1",
    "S3META_BUCKETS": "company-uploads",
    "S3META_DATABASE_URL": "mysql+pymysql://s3meta@db.example.internal/s3meta"
    "?charset=utf8mb4&ssl_ca=/etc/ssl/certs/rds-global-bundle.pem",
    "S3META_DATABASE_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf",
    "FLOWER_BASIC_AUTH": "admin:flower0password",
    "S3META_DATABASE_READ_URL": "",
    "S3META_CACHE_URL": "",
    "S3META_API_TOKEN": "aws0api0token",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH|PRIVATE", re.IGNORECASE)
SWITCHES = frozenset({"yes", "no", "true", "false"})
ONLY_VARIABLES = re.compile(r"(\$\{[^}]*\}|\$\$)*")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


# Compose's variable rules, as the tests below rely on them ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A}", "a"),
        ("$A/$$A", "a/$A"),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${UNSET-d}", "d"),
        ("${UNSET:-x${A}y}", "xay"),
        ("u:${A:?need A}@h", "u:a@h"),
    ],
)
def test_interpolation_follows_compose_rules(text: str, expected: str) -> None:
    assert interpolate(text, {"A": "a", "EMPTY": ""}) == expected


def test_a_required_variable_that_is_missing_stops_interpolation() -> None:
    with pytest.raises(MissingVariable, match="B: set B"):
        interpolate("${B:?set B}", {"B": ""})


# docker-compose.yml ----------------------------------------------------------------------


@pytest.mark.parametrize("env", [LOCAL_ENV, AWS_ENV], ids=["local", "aws"])
def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any], env: dict[str, str]
) -> None:
    schema = json.loads(SCHEMA.read_text())

    # The schema names draft-07 in a form jsonschema does not look up by itself.
    jsonschema.Draft7Validator(schema).validate(interpolated(compose, env))


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, spec in services(compose).items():
        assert "image" in spec or "build" in spec, name


def test_every_long_running_service_has_a_health_check_and_restarts(
    compose: dict[str, Any],
) -> None:
    for name, spec in services(compose).items():
        if name in ONE_SHOT:
            assert spec.get("restart") == "no", name
            assert "healthcheck" not in spec, name
            continue
        check = spec.get("healthcheck")
        assert check, name
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert spec.get("restart") == "unless-stopped", name


def test_services_start_only_once_what_they_need_is_ready(compose: dict[str, Any]) -> None:
    declared = services(compose)
    needs = {
        name: {dep: rule["condition"] for dep, rule in spec.get("depends_on", {}).items()}
        for name, spec in declared.items()
    }

    assert needs["migrate"] == {"mysql": "service_healthy"}
    assert needs["setup"] == {"moto": "service_healthy"}
    assert needs["bridge"]["setup"] == "service_completed_successfully"
    for service in ("worker", "flower"):
        assert needs[service]["migrate"] == "service_completed_successfully"
        assert needs[service]["setup"] == "service_completed_successfully"
    for name, dependencies in needs.items():
        for dependency, condition in dependencies.items():
            if condition == "service_healthy":
                assert "healthcheck" in declared[dependency], (name, dependency)
            else:
                assert condition == "service_completed_successfully", (name, dependency)
                assert dependency in ONE_SHOT, (name, dependency)


def test_the_local_stand_ins_are_optional_so_that_real_aws_needs_no_edit(
    compose: dict[str, Any],
) -> None:
    declared = services(compose)
    for name in LOCAL_STAND_INS:
        assert declared[name]["profiles"] == ["local"]
    for name, spec in declared.items():
        for dependency, rule in spec.get("depends_on", {}).items():
            if dependency in LOCAL_STAND_INS:
                assert rule.get("required") is False, (name, dependency)
    assert LOCAL_ENV["COMPOSE_PROFILES"] == "local"


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, spec in services(compose).items():
        for variable, value in (spec.get("environment") or {}).items():
            # A switch such as MYSQL_RANDOM_ROOT_PASSWORD=yes names a secret but holds none.
            if SECRET_NAME.search(variable) and str(value) not in SWITCHES:
                assert ONLY_VARIABLES.fullmatch(str(value)), (name, variable, value)
        for value in (spec.get("environment") or {}).values():
            for password in re.findall(r"://[^:/@\s]+:([^@\s]*)@", str(value)):
                assert ONLY_VARIABLES.fullmatch(password), (name, value)
    text = COMPOSE_FILE.read_text()
    assert "testing" not in text
    assert "AKIA" not in text


def test_configuration_is_by_environment_only(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        spec = services(compose)[name]
        assert not {"env_file", "volumes", "configs", "secrets"} & spec.keys(), name


def test_workers_scale_with_no_fixed_name_or_port(compose: dict[str, Any]) -> None:
    for name in ("worker", "bridge"):
        spec = services(compose)[name]
        assert not {"container_name", "ports"} & spec.keys(), name


def test_published_ports_are_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, spec in services(compose).items():
        for port in spec.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_flower_requires_a_login(compose: dict[str, Any]) -> None:
    flower = services(compose)["flower"]

    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    with pytest.raises(MissingVariable, match="FLOWER_BASIC_AUTH"):
        compose_command(compose, "flower", {**LOCAL_ENV, "FLOWER_BASIC_AUTH": ""})


def test_workers_stop_gracefully_within_the_task_time_limit(compose: dict[str, Any]) -> None:
    grace = services(compose)["worker"]["stop_grace_period"]
    assert grace.endswith("s")
    assert int(grace[:-1]) > load_settings().task_time_limit


@pytest.mark.parametrize(
    ("env", "endpoint", "database_host", "broker"),
    [
        (LOCAL_ENV, "http://moto:5000", "mysql", "sqs://local:local@moto:5000"),
        (AWS_ENV, None, "db.example.internal", "sqs://"),
    ],
    ids=["local", "aws"],
)
def test_the_same_file_runs_locally_or_against_aws_by_environment_alone(
    compose: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    endpoint: str | None,
    database_host: str,
    broker: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    worker = compose_command(compose, "worker", env)
    for variable in [v for v in os.environ if v.startswith(("S3META_", "AWS_"))]:
        monkeypatch.delenv(variable)
    for variable, value in worker.env.items():
        monkeypatch.setenv(variable, value)

    settings = load_settings()

    assert settings.aws_endpoint_url == endpoint
    assert f"@{database_host}" in settings.database_url
    assert broker_url(settings) == broker


# Dockerfile ------------------------------------------------------------------------------


def dockerfile_stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in DOCKERFILE.read_text().splitlines():
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = stages.setdefault(match[1], [])
        elif line.strip() and not line.lstrip().startswith("#"):
            current.append(line.strip())
    return stages


def test_the_app_image_runs_as_a_user_without_build_tools(compose: dict[str, Any]) -> None:
    stages = dockerfile_stages()
    app = stages["app"]

    assert services(compose)["worker"]["build"]["target"] == "app"
    users = [line.split()[1] for line in app if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    build_tools = re.compile(r"\b(gcc|g\+\+|make|build-essential|apt-get|apk|pip install)\b")
    assert not [line for line in app if build_tools.search(line)]


def test_nothing_local_or_secret_goes_into_the_build_context() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]

    assert rules[0] == "*"  # an allowlist: only what is named below goes in
    allowed = [rule[1:] for rule in rules if rule.startswith("!")]
    assert not [rule for rule in allowed if rule.startswith((".env", ".venv", ".git", "tests"))]


# systemd units ---------------------------------------------------------------------------


LONG_RUNNING_UNITS = sorted(
    UNIT_OF_SERVICE[s] for s in ("worker", "bridge", "flower", "api", "relay")
)


def test_the_migration_unit_runs_once_when_started_by_hand() -> None:
    unit = load_unit(UNITS_DIR / UNIT_OF_SERVICE["migrate"])

    assert unit.value("Service", "Type") == "oneshot"
    assert unit.value("Service", "Restart") is None
    # Enabled on every node, it would race the others at boot.
    assert "Install" not in unit.sections


@pytest.mark.parametrize("unit_name", LONG_RUNNING_UNITS)
def test_units_restart_on_failure_and_read_an_environment_file(unit_name: str) -> None:
    unit = load_unit(UNITS_DIR / unit_name)

    assert unit.value("Service", "Restart") == "on-failure"
    assert unit.value("Service", "KillSignal") == "SIGTERM"
    assert "/etc/s3meta/s3meta.env" in unit.values("Service", "EnvironmentFile")
    assert unit.value("Service", "User") not in {None, "root"}
    assert unit.value("Install", "WantedBy") == "multi-user.target"
    assert not [v for v in unit.environment() if SECRET_NAME.search(v) and unit.environment()[v]]


def test_the_worker_unit_lets_tasks_in_flight_finish() -> None:
    unit = load_unit(UNITS_DIR / "s3meta-worker.service")

    # Only Celery's main process hears SIGTERM (its warm shutdown); the pool is its own.
    assert unit.value("Service", "KillMode") == "mixed"
    assert int(unit.value("Service", "TimeoutStopSec") or 0) > load_settings().task_time_limit


def test_the_bridge_unit_reads_the_node_settings_as_they_are() -> None:
    unit = load_unit(UNITS_DIR / "s3meta-bridge.service")

    # The bridge never reads the database secret (tests/integration/test_bridge_secret.py):
    # nothing needs blanking for it.
    assert "S3META_DATABASE_SECRET_ARN" not in unit.environment()


@pytest.mark.parametrize("service", ["setup", "bridge"])
def test_services_that_open_no_database_get_the_same_settings_as_the_worker(
    compose: dict[str, Any], service: str
) -> None:
    command = compose_command(compose, service, AWS_ENV)
    worker = compose_command(compose, "worker", AWS_ENV)

    assert command.env["S3META_DATABASE_SECRET_ARN"] == AWS_ENV["S3META_DATABASE_SECRET_ARN"]
    assert worker.env["S3META_DATABASE_SECRET_ARN"] == AWS_ENV["S3META_DATABASE_SECRET_ARN"]


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the units were only parsed")
    venv_bin = Path(sys.executable).parent
    for unit in UNITS_DIR.glob("*.service"):
        # verify checks that ExecStart's program exists: point it at this virtualenv's.
        text = unit.read_text().replace("/opt/s3meta/venv/bin/", f"{venv_bin}/")
        (tmp_path / unit.name).write_text(text)

    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.parametrize("service", sorted(UNIT_OF_SERVICE))
def test_units_run_the_same_commands_as_the_compose_file(
    compose: dict[str, Any], service: str
) -> None:
    node_env = read_env_file(DEPLOY / "s3meta.env.example")
    unit = unit_command(load_unit(UNITS_DIR / UNIT_OF_SERVICE[service]), node_env)
    composed = compose_command(
        compose,
        service,
        {
            **LOCAL_ENV,
            "S3META_WORKER_CONCURRENCY": node_env["S3META_WORKER_CONCURRENCY"],
            "S3META_BRIDGE_CONCURRENCY": node_env["S3META_BRIDGE_CONCURRENCY"],
        },
    )

    assert unit.argv[0].startswith("/opt/s3meta/venv/bin/")
    assert [Path(unit.argv[0]).name, *unit.argv[1:]] == composed.argv


def test_the_node_environment_file_holds_no_credentials() -> None:
    node_env = read_env_file(DEPLOY / "s3meta.env.example")

    assert not [name for name in node_env if SECRET_NAME.search(name) and "ARN" not in name]
    assert not [name for name in node_env if name.startswith("AWS_") and name != "AWS_REGION"]
    assert ":" not in node_env["S3META_DATABASE_URL"].split("@")[0].removeprefix("mysql+pymysql:")


# IAM policies ----------------------------------------------------------------------------


# The Lambda function signs in to RDS Proxy with IAM tokens; it reads no secret.
LAMBDA_POLICY_ENV = {
    "S3META_DATABASE_SECRET_ARN": None,
    "S3META_DATABASE_IAM_AUTH": "true",
    "S3META_DATABASE_URL": "mysql+pymysql://s3meta@s3meta.proxy-example.eu-west-1.rds.amazonaws.com/s3meta",
}


@pytest.mark.parametrize(
    ("role", "args", "role_env"),
    [
        ("worker", ["--bucket", "my-uploads"], {}),
        ("bridge", [], {}),
        ("lambda", ["--bucket", "my-uploads"], LAMBDA_POLICY_ENV),
    ],
)
def test_the_iam_policies_in_deploy_are_what_setup_prints(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    role: str,
    args: list[str],
    role_env: dict[str, str | None],
) -> None:
    monkeypatch.chdir(tmp_path)
    # Only the committed policies' settings: none of this process's (a test stack's queues).
    env: dict[str, str | None] = {
        **{name: None for name in os.environ if name.startswith(("S3META_", "AWS_"))},
        "AWS_REGION": "eu-west-1",
        "S3META_DATABASE_SECRET_ARN": "s3meta/database",
        "S3META_CLOUDWATCH_NAMESPACE": "s3meta",
        **role_env,
    }
    get_settings.cache_clear()
    printed = CliRunner().invoke(
        cli,
        ["setup", "--iam-policy", role, *args, "--account-id", "123456789012"],
        env=env,
    )
    get_settings.cache_clear()

    assert printed.exit_code == 0, printed.output
    committed = json.loads((DEPLOY / "iam" / f"{role}-policy.json").read_text())
    assert json.loads(printed.output) == committed
