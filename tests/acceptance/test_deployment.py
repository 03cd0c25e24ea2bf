"""The deployment, run as processes: the commands docker-compose.yml and the units run.

No Docker engine runs here, so each service's command and environment are read from
docker-compose.yml (interpolated as Compose does) and started as a process against moto's
server and MariaDB, in the order its depends_on gives: migrate, setup, then the bridge, a
worker and Flower. The database password exists only in a Secrets Manager secret; the
AWS secret key is one no log may show.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import boto3
import pytest
import sqlalchemy as sa

from s3meta.processes import stop_process
from tests.support.database import MYSQL_SERVER_URL, require_mysql
from tests.support.deployment import Command, compose_command, interpolated, load_compose
from tests.support.processes import MotoServer, free_port, wait_for

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
REGION = "us-east-1"


@dataclass
class Deployment:
    """One deployment's names, secrets and processes."""

    env: dict[str, str]
    workdir: Path
    database_password: str
    aws_secret: str
    flower_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def client(self, service: Literal["s3", "cloudwatch"]) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key=self.aws_secret,
        )

    def command(self, service: str) -> Command:
        """What Compose runs for ``service``, adapted to one host: loopback, own files."""
        command = compose_command(load_compose(), service, self.env)
        env = dict(command.env)
        env["S3META_HEALTH_FILE"] = str(self.workdir / f"{service}.alive")
        env["S3META_METRICS_INTERVAL"] = "1"
        if service == "flower":
            env["FLOWER_ADDRESS"] = "127.0.0.1"
            env["FLOWER_PORT"] = str(self.flower_port)
        return Command(command.argv, env)

    def process_env(self, env: Mapping[str, str]) -> dict[str, str]:
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("S3META_", "AWS_", "FLOWER_"))
        }
        return {**inherited, **env}

    def run(self, service: str) -> subprocess.CompletedProcess[str]:
        command = self.command(service)
        return self.execute(command.argv, command.env, timeout=120)

    def start(self, service: str) -> None:
        command = self.command(service)
        log = (self.workdir / f"{service}.log").open("wb")
        self.processes[service] = subprocess.Popen(
            [_program(command.argv[0]), *command.argv[1:]],
            cwd=ROOT,
            env=self.process_env(command.env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log(self, service: str) -> str:
        return (self.workdir / f"{service}.log").read_text(errors="replace")

    def health(self, service: str) -> subprocess.CompletedProcess[str]:
        """The compose file's health check of ``service``, run as Docker would run it."""
        spec = interpolated(load_compose()["services"][service], self.env)
        test = spec["healthcheck"]["test"]
        assert test[0] == "CMD"
        argv = [arg.replace(":5555/", f":{self.flower_port}/") for arg in test[1:]]
        return self.execute(argv, self.command(service).env, timeout=30)

    def execute(
        self, argv: list[str], env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run one of s3meta's programs to the end, from the project root as the image does."""
        return subprocess.run(
            [_program(argv[0]), *argv[1:]],
            cwd=ROOT,
            env=self.process_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, service: str, timeout: float = 60) -> int:
        """SIGTERM, as ``docker compose stop`` and ``systemctl stop`` send; its exit status."""
        return stop_process(self.processes[service], timeout=timeout)


def _program(name: str) -> str:
    """The virtualenv's console script for ``name`` (the image puts them on PATH)."""
    path = VENV_BIN / name
    assert path.exists(), f"{name} is not installed in {VENV_BIN}"
    return str(path)


@pytest.fixture
def database_user() -> Iterator[tuple[str, str, str]]:
    """A scratch database and a user of its own with a password: (database, user, password)."""
    require_mysql()
    suffix = uuid.uuid4().hex[:10]
    database, user, password = f"s3meta_deploy_{suffix}", f"deploy_{suffix}", uuid.uuid4().hex
    server = sa.create_engine(MYSQL_SERVER_URL)
    hosts = ("%", "localhost")
    with server.begin() as connection:
        connection.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
        for host in hosts:
            connection.execute(
                sa.text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY :password"),
                {"password": password},
            )
            connection.execute(sa.text(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'"))
    try:
        yield database, user, password
    finally:
        with server.begin() as connection:
            for host in hosts:
                connection.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
        server.dispose()


@pytest.fixture
def deployment(
    moto_server: MotoServer, database_user: tuple[str, str, str], tmp_path: Path
) -> Iterator[Deployment]:
    database, user, password = database_user
    suffix = uuid.uuid4().hex[:8]
    aws_secret = f"deploy-aws-secret-{uuid.uuid4().hex}"
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key=aws_secret,
    )
    secret_arn = secrets.create_secret(
        Name=f"s3meta/deploy-{suffix}",
        SecretString=json.dumps({"username": user, "password": password, "engine": "mysql"}),
    )["ARN"]
    # The variables an operator sets (a .env file); the compose file does the rest.
    env = {
        "COMPOSE_PROFILES": "",
        "AWS_ENDPOINT_URL": moto_server.url,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": aws_secret,
        "S3META_DATABASE_URL": f"mysql+pymysql://{user}@127.0.0.1:3306/{database}?charset=utf8mb4",
        "S3META_DATABASE_SECRET_ARN": secret_arn,
        # Set and empty: no read replica, no ElastiCache, as on a deployment without them
        # (the compose file's local ones are containers; test_api_replica and test_cache
        # run both for real).
        "S3META_DATABASE_READ_URL": "",
        "S3META_CACHE_URL": "",
        "S3META_BUCKETS": f"deploy-{suffix}",
        "S3META_CREATE_BUCKETS": "true",
        "S3META_EVENTS_QUEUE": f"deploy-events-{suffix}",
        "S3META_TASK_QUEUE": f"deploy-tasks-{suffix}",
        "S3META_DEAD_LETTER_QUEUE": f"deploy-dlq-{suffix}",
        "S3META_CLOUDWATCH_NAMESPACE": f"s3meta-deploy-{suffix}",
        "S3META_WORKER_CONCURRENCY": "2",
        "S3META_BRIDGE_CONCURRENCY": "1",
        "FLOWER_BASIC_AUTH": f"admin:{uuid.uuid4().hex}",
    }
    running = Deployment(env, tmp_path, password, aws_secret, free_port())
    yield running
    for service in list(running.processes):
        running.stop(service, timeout=30)


def test_the_deployed_services_index_an_upload_and_keep_secrets_out_of_their_logs(
    deployment: Deployment,
) -> None:
    bucket = deployment.env["S3META_BUCKETS"]

    # The one-shot jobs, in depends_on order.
    migrated = deployment.run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    set_up = deployment.run("setup")
    assert set_up.returncode == 0, set_up.stderr + set_up.stdout
    assert f"create bucket {bucket}" in set_up.stdout

    for service in ("bridge", "worker", "flower"):
        deployment.start(service)
    for service in ("bridge", "worker", "flower"):
        wait_for(partial(_healthy, deployment, service), 90, f"{service} to be healthy")

    key = "reports/2026/q4 summary.csv"
    deployment.client("s3").put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    row = _wait_for_row(deployment, bucket, key)
    assert row["size"] == 8
    assert row["deleted"] is False

    namespace = deployment.env["S3META_CLOUDWATCH_NAMESPACE"]
    wait_for(
        lambda: _metric_sum(deployment, namespace, "ObjectsIndexed") >= 1,
        60,
        "ObjectsIndexed in CloudWatch",
    )

    stopped = {service: deployment.stop(service) for service in ("bridge", "worker", "flower")}
    assert stopped["bridge"] == 0, deployment.log("bridge")
    assert stopped["worker"] == 0, deployment.log("worker")
    for service in ("bridge", "worker"):
        assert not (deployment.workdir / f"{service}.alive").exists(), service
        assert _healthy(deployment, service) is False

    logs = {
        "migrate": migrated.stdout + migrated.stderr,
        "setup": set_up.stdout + set_up.stderr,
        **{service: deployment.log(service) for service in ("bridge", "worker", "flower")},
    }
    for service, text in logs.items():
        assert deployment.database_password not in text, service
        assert deployment.aws_secret not in text, service
    task_lines = [
        json.loads(line)
        for line in logs["worker"].splitlines()
        if line.startswith("{") and json.loads(line).get("key") == key
    ]
    assert task_lines, logs["worker"]
    assert {line["bucket"] for line in task_lines} == {bucket}
    assert all(line.get("task_id") for line in task_lines)


def _healthy(deployment: Deployment, service: str) -> bool:
    process = deployment.processes.get(service)
    if process is not None and process.poll() is not None and process.returncode != 0:
        log = deployment.log(service)
        raise RuntimeError(f"{service} exited with {process.returncode}:\n{log}")
    return deployment.health(service).returncode == 0


def _wait_for_row(deployment: Deployment, bucket: str, key: str) -> dict[str, Any]:
    show = deployment.command("worker")
    argv = ["s3meta", "show", f"s3://{bucket}/{key}", "--json"]
    found: dict[str, Any] = {}

    def indexed() -> bool:
        result = deployment.execute(argv, show.env, timeout=30)
        if result.returncode != 0:
            time.sleep(0.5)
            return False
        found.update(json.loads(result.stdout))
        return True

    try:
        wait_for(indexed, 90, f"s3://{bucket}/{key} in the database")
    except TimeoutError:
        logs = "\n".join(f"--- {s}\n{deployment.log(s)[-3000:]}" for s in deployment.processes)
        raise AssertionError(f"not indexed; {shlex.join(argv)}\n{logs}") from None
    return found


def _metric_sum(deployment: Deployment, namespace: str, name: str) -> float:
    statistics = deployment.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName=name,
        StartTime=time.time() - 3600,
        EndTime=time.time() + 60,
        Period=60,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in statistics["Datapoints"]))
