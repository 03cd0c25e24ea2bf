"""Commands an operator runs first fail in one line and exit 1, never with a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from s3meta.processes import free_port
from tests.support.database import MYSQL_SERVER_URL, ROOT, require_mysql
from tests.support.stack import Stack

BIN = Path(sys.executable).parent
S3META = shutil.which("s3meta", path=str(BIN)) or "s3meta"
ALEMBIC = shutil.which("alembic", path=str(BIN)) or "alembic"


def run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed (asserting that it was one, with status 1)."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


def test_alembic_upgrade_with_the_database_down_says_so_in_one_line() -> None:
    url = f"mysql+pymysql://root:hunter2pw@127.0.0.1:{free_port()}/s3meta"

    line = one_line(run([ALEMBIC, "upgrade", "head"], S3META_DATABASE_URL=url))

    assert line.startswith("alembic: cannot connect to mysql+pymysql://root:***@127.0.0.1:")
    assert "Connection refused" in line
    assert "hunter2pw" not in line


@pytest.mark.mysql
def test_alembic_upgrade_of_an_unknown_database_says_to_create_it() -> None:
    require_mysql()
    url = f"{MYSQL_SERVER_URL}/s3meta_never_created"

    line = one_line(run([ALEMBIC, "upgrade", "head"], S3META_DATABASE_URL=url))

    assert "Unknown database 's3meta_never_created'" in line
    assert "CREATE DATABASE `s3meta_never_created` CHARACTER SET utf8mb4" in line


@pytest.mark.parametrize("command", [[ALEMBIC, "upgrade", "head"], [S3META, "stats"]])
def test_a_mysql_url_without_a_driver_says_to_write_mysql_pymysql(command: list[str]) -> None:
    line = one_line(run(command, S3META_DATABASE_URL="mysql://root@127.0.0.1/s3meta"))

    assert "S3META_DATABASE_URL" in line
    assert "the MySQLdb driver is not installed; write mysql+pymysql://" in line


def test_a_postgresql_url_without_its_driver_names_the_package_to_install() -> None:
    line = one_line(
        run([ALEMBIC, "upgrade", "head"], S3META_DATABASE_URL="postgresql://u@127.0.0.1/s3meta")
    )

    assert "the psycopg driver is not installed: pip install 'psycopg[binary]'" in line


@pytest.mark.mysql
def test_backfill_with_sqs_down_says_so_and_how_to_resume_in_one_line(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    env = {
        **stack.env,
        # S3 answers; SQS, the broker, does not.
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_ENDPOINT_URL_S3": stack.moto.url,
    }

    line = one_line(run([S3META, "backfill", f"s3://{bucket}"], **env))

    assert line.startswith("Error: SQS unreachable: Could not connect to the endpoint URL")
    assert "stopped before publishing anything" in line
    assert "run the same command again" in line
