"""A MariaDB user whose password lives only in Secrets Manager (moto's server): ``alembic
upgrade head`` and an engine on ``s3meta.composition.database_url`` both log in with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from db.engine import create_engine
from db.migrations import upgrade
from s3meta import composition, masking
from s3meta.config import get_settings
from tests.support.database import MYSQL_SERVER_URL, ROOT, scratch_mysql_database
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV

pytestmark = pytest.mark.mysql


@dataclass
class SecretDatabase:
    env: dict[str, str]
    user: str
    password: str


@pytest.fixture
def secret_database(moto_server: MotoServer) -> Iterator[SecretDatabase]:
    """An empty database, a user allowed into it, and that user's password as a secret."""
    user = f"s3meta_{uuid.uuid4().hex[:8]}"
    # URL-reserved characters, so that the completed URL must quote them.
    password = f"s3:/m@e%t?a#-{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(MYSQL_SERVER_URL)
    with scratch_mysql_database() as root_url:
        database = make_url(root_url).database
        with server.begin() as connection:
            connection.execute(
                sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :password"),
                {"password": password},
            )
            connection.execute(sa.text(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'"))
        secrets = boto3.client(
            "secretsmanager",
            endpoint_url=moto_server.url,
            region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        arn = secrets.create_secret(
            Name=f"s3meta/{user}",
            SecretString=json.dumps({"username": user, "password": password}),
        )["ARN"]
        without_credentials = make_url(root_url).set(username=None, password=None)
        try:
            yield SecretDatabase(
                env={
                    **AWS_TEST_ENV,
                    "AWS_ENDPOINT_URL": moto_server.url,
                    "S3META_DATABASE_URL": without_credentials.render_as_string(),
                    "S3META_DATABASE_SECRET_ARN": arn,
                },
                user=user,
                password=password,
            )
        finally:
            with server.begin() as connection:
                connection.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
            server.dispose()


def test_alembic_migrates_with_the_password_from_the_secret_and_never_prints_it(
    secret_database: SecretDatabase,
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "S3META_"))
    }

    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={**env, **secret_database.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert secret_database.password not in done.stdout + done.stderr


def test_the_engine_on_the_completed_url_logs_in_as_the_secrets_user(
    secret_database: SecretDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "S3META_")):
            monkeypatch.delenv(name)
    for name, value in secret_database.env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        settings = get_settings()
        url = composition.database_url(settings)
        upgrade(url)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                user = connection.execute(sa.text("SELECT CURRENT_USER()")).scalar_one()
                rows = connection.execute(sa.text("SELECT COUNT(*) FROM object_metadata"))
                assert rows.scalar_one() == 0
        finally:
            engine.dispose()
    finally:
        get_settings.cache_clear()

    assert str(user).startswith(f"{secret_database.user}@")
    assert secret_database.password not in repr(settings)
    assert secret_database.password not in masking.redact(url)


def test_alembic_with_a_secret_it_cannot_read_says_so_in_one_line(
    moto_server: MotoServer,
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "S3META_"))
    }
    missing = f"s3meta/missing-{uuid.uuid4().hex[:8]}"

    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env={
            **env,
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": moto_server.url,
            "S3META_DATABASE_URL": "mysql+pymysql://nobody@127.0.0.1:3306/nothing",
            "S3META_DATABASE_SECRET_ARN": missing,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"alembic: S3META_DATABASE_SECRET_ARN='{missing}': ")
