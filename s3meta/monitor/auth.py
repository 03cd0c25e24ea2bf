"""The credentials Flower demands: HTTP basic auth from ``FLOWER_BASIC_AUTH``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from s3meta.errors import ConfigError

BASIC_AUTH_VARIABLE = "FLOWER_BASIC_AUTH"


def basic_auth_from_env(environ: Mapping[str, str]) -> list[str]:
    """``FLOWER_BASIC_AUTH``'s ``user:password`` pairs (comma-separated, as Flower reads it).

    Raises ``ConfigError`` when the variable is unset, empty, or holds a pair without a user
    or a password: Flower would then serve the pipeline, remote control included, to anyone.
    """
    value = environ.get(BASIC_AUTH_VARIABLE, "").strip()
    if not value:
        raise ConfigError(
            f"{BASIC_AUTH_VARIABLE} is not set: Flower does not start without authentication "
            f'(set {BASIC_AUTH_VARIABLE}="user:password")'
        )
    return checked_pairs(value.split(","), BASIC_AUTH_VARIABLE)


def checked_pairs(pairs: Sequence[str], source: str) -> list[str]:
    """``pairs`` when each is ``user:password`` with both non-empty; else ``ConfigError``."""
    for pair in pairs:
        user, _, password = pair.partition(":")
        if not user or not password:
            raise ConfigError(f"{source}: every entry must be user:password with both non-empty")
    return list(pairs)
