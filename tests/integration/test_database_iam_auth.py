"""RDS IAM authentication: each new connection signs in with the password a source gives then."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from db.engine import sign_in_with, writer_engine
from s3meta.aws.rds import auth_token_source
from s3meta.errors import ConfigError
from tests.support.database import MYSQL_SERVER_URL, scratch_mysql_database

PROXY = "s3meta.proxy-abc.eu-west-1.rds.amazonaws.com"


def rds() -> object:
    return boto3.client(
        "rds",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def test_a_token_is_signed_for_the_user_and_endpoint_of_the_database_url() -> None:
    token = auth_token_source(rds(), f"mysql+pymysql://s3meta@{PROXY}/s3meta", "eu-west-1")()

    signed = urlsplit(f"https://{token}")
    query = parse_qs(signed.query)
    assert (signed.hostname, signed.port) == (PROXY, 3306)
    assert query["Action"] == ["connect"]
    assert query["DBUser"] == ["s3meta"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/eu-west-1/rds-db/" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Signature"]


def test_a_database_url_without_a_user_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="S3META_DATABASE_IAM_AUTH needs S3META_DATABASE_URL"):
        auth_token_source(rds(), f"mysql+pymysql://{PROXY}/s3meta", "eu-west-1")


@pytest.mark.mysql
def test_every_new_connection_signs_in_with_a_fresh_password_from_the_source() -> None:
    user, password = f"iam_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with scratch_mysql_database() as url:
        server = sa.create_engine(MYSQL_SERVER_URL)
        with server.begin() as connection:
            connection.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
            connection.execute(sa.text(f"GRANT SELECT ON *.* TO '{user}'@'%'"))
        try:
            handed: list[str] = []

            def source() -> str:
                handed.append(password)
                return password

            engine = writer_engine(make_url(url).set(username=user).render_as_string(False))
            sign_in_with(engine, source)
            with engine.connect() as connection:
                assert connection.execute(sa.text("SELECT CURRENT_USER()")).scalar() == f"{user}@%"
            engine.dispose()
            with engine.connect() as connection:  # a new connection: a new password
                connection.execute(sa.text("SELECT 1"))
            engine.dispose()
            assert len(handed) == 2
        finally:
            with server.begin() as connection:
                connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
            server.dispose()
