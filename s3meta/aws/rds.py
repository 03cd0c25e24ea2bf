"""RDS IAM authentication: a database password that is a token signed with AWS credentials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url

from s3meta.errors import ConfigError, DatabaseUnavailable

# The port MySQL listens on when the URL names none.
MYSQL_PORT = 3306


def auth_token_source(client: Any, database_url: str, region: str) -> Callable[[], str]:
    """What signs a fresh token for the user and endpoint (RDS or RDS Proxy) of
    ``database_url``: a token is valid for 15 minutes, and only to open a connection.

    Raise ``ConfigError`` if the URL names no user or host to sign for.
    """
    url = make_url(database_url)
    if not url.username or not url.host:
        raise ConfigError(
            "S3META_DATABASE_IAM_AUTH needs S3META_DATABASE_URL to name the user and the host "
            "(mysql+pymysql://USER@HOST:PORT/DATABASE)"
        )
    host, port, user = url.host, url.port or MYSQL_PORT, url.username

    def token() -> str:
        try:
            signed: str = client.generate_db_auth_token(
                DBHostname=host, Port=port, DBUsername=user, Region=region
            )
        except (BotoCoreError, ClientError) as exc:  # no credentials, most often
            raise DatabaseUnavailable(f"could not sign an RDS IAM token for {user}: {exc}") from exc
        return signed

    return token
