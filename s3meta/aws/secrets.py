"""The database credentials from AWS Secrets Manager (``S3META_DATABASE_SECRET_ARN``).

The secret is read as RDS-managed secrets store it: a JSON object with ``username`` and
``password`` and optionally ``host``, ``port`` and ``dbname``. A secret string that does
not start with ``{`` is the password alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import URL, make_url

from s3meta.aws.errors import describe, error_code, is_access_denied
from s3meta.config import Settings
from s3meta.errors import ConfigError

VARIABLE = "S3META_DATABASE_SECRET_ARN"


@dataclass(frozen=True)
class DatabaseSecret:
    """What the secret holds; only the password is required."""

    password: str = field(repr=False)
    username: str | None = None
    host: str | None = None
    port: int | None = None
    dbname: str | None = None


def resolve_database_url(settings: Settings, client: Any) -> str:
    """``settings.database_url`` with the credentials of ``settings.database_secret_arn``,
    read with ``client`` (Secrets Manager's).

    The password always comes from the secret, and the username whenever the secret has one.
    Host and port come from the secret only when the URL has no host (so a URL may name a
    proxy or a tunnel in front of the database), the database name only when the URL has
    none: ``mysql+pymysql://`` alone takes everything from an RDS secret. Raises
    ``ConfigError`` naming ``S3META_DATABASE_SECRET_ARN``, never with the secret's value.
    """
    arn = settings.database_secret_arn
    if not arn:
        return settings.database_url
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        raise ConfigError(
            f"{VARIABLE} is set but S3META_DATABASE_URL names a SQLite file; set it to the "
            "server's URL, e.g. mysql+pymysql:// (host, port and database may come from the "
            "secret)"
        )
    secret = parse_secret(arn, read_secret_string(client, arn))
    return render(with_secret(url, secret))


def read_secret_string(client: Any, arn: str) -> str:
    """The secret's ``SecretString`` (GetSecretValue)."""
    where = f"{VARIABLE}={arn!r}"
    try:
        response = client.get_secret_value(SecretId=arn)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"{where}: no such secret in Secrets Manager (region {client.meta.region_name})"
            ) from None
        if is_access_denied(exc):
            raise ConfigError(
                f"{where}: access denied (secretsmanager:GetSecretValue, and kms:Decrypt for "
                f"a customer-managed key): {describe(exc)}"
            ) from None
        raise ConfigError(f"{where}: Secrets Manager refused to read it: {describe(exc)}") from None
    except BotoCoreError as exc:
        raise ConfigError(f"{where}: could not read the secret: {exc}") from None
    text = response.get("SecretString")
    if not isinstance(text, str):
        raise ConfigError(f"{where}: the secret has no SecretString (binary secrets are not used)")
    return text


def parse_secret(arn: str, text: str) -> DatabaseSecret:
    """The credentials in ``text``: a JSON object as RDS stores it, else the password alone."""
    where = f"{VARIABLE}={arn!r}"
    if not text.lstrip().startswith("{"):
        if not text:
            raise ConfigError(f"{where}: the secret is empty")
        return DatabaseSecret(password=text)
    try:
        found: Any = json.loads(text)
    except ValueError:
        # The decoder's message quotes the text around the fault: the secret itself.
        raise ConfigError(f"{where}: the secret starts with '{{' but is not valid JSON") from None
    password = found.get("password") if isinstance(found, dict) else None
    if not isinstance(password, str) or not password:
        raise ConfigError(f'{where}: the secret is JSON without a "password" string')
    return DatabaseSecret(
        password=password,
        username=_text(found, "username", where),
        host=_text(found, "host", where),
        port=_port(found.get("port"), where),
        dbname=_text(found, "dbname", where),
    )


def with_secret(url: URL, secret: DatabaseSecret) -> URL:
    """``url`` completed by ``secret`` (see ``resolve_database_url`` for which part wins)."""
    changes: dict[str, Any] = {"password": secret.password}
    if secret.username:
        changes["username"] = secret.username
    if not url.host and secret.host:
        changes["host"] = secret.host
        changes["port"] = secret.port
    if not url.database and secret.dbname:
        changes["database"] = secret.dbname
    return url.set(**changes)


def render(url: URL) -> str:
    """``url`` as a string with its password, quoted as a URL needs."""
    return url.render_as_string(hide_password=False)


def _text(found: dict[str, Any], name: str, where: str) -> str | None:
    value = found.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f'{where}: the secret\'s "{name}" is not a string')
    return value


def _port(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    # RDS writes the port as a number; hand-made secrets often hold a string.
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536:
        return value
    if isinstance(value, str) and value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise ConfigError(f'{where}: the secret\'s "port" is not a port number')
