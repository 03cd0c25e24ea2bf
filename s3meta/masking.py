"""Secrets out of text: URL passwords, and every value registered as a secret, become ``***``.

A leaf: it imports nothing of s3meta, so that settings, logs, error messages and ``doctor``
can all use it. URLs are masked by SQLAlchemy's own rendering (imported on first use: a
command that prints no URL does not pay for importing SQLAlchemy).
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"
# Shorter values are too likely to be ordinary words or numbers: masking them would mangle
# lines and hide nothing.
MIN_SECRET_LENGTH = 4

# A URL with a password: scheme://user:password@... up to a space or a quote.
_URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>/@:]*:[^\s'\"<>]*@[^\s'\"<>]*")
# Punctuation that ends a sentence or closes a parenthesis rather than belonging to the URL.
_TRAILING = ".,;:)]}"

_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def mask_url(url: str) -> str:
    """``url`` with its password shown as ``***``, as SQLAlchemy renders it; never raises.

    Text that is not a URL with a password comes back unchanged. A URL SQLAlchemy cannot
    parse loses its whole user part instead.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme, found, rest = url.partition("://")
        if not found or "@" not in rest:
            return url
        return f"{scheme}://{MASK}@{rest.rpartition('@')[2]}"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked (``mask_url``)."""
    return _URL_WITH_PASSWORD.sub(_masked_match, text)


def _masked_match(match: re.Match[str]) -> str:
    url = match.group(0)
    kept = url.rstrip(_TRAILING)
    return mask_url(kept) + url[len(kept) :]


def url_password(url: str | None) -> str | None:
    """The password in ``url`` (a SQLAlchemy URL, or Celery's ``db+`` form), if it has one."""
    if not url:
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url.removeprefix("db+")).password
    except (ArgumentError, ValueError):
        return None


def register_secret(value: str | None) -> None:
    """Mask ``value`` (and its URL-quoted form) in every ``redact`` from now on."""
    global _secrets
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        found = {*_secrets, value, quote(value, safe="")}
        # Longest first, so that a secret containing another is masked whole.
        _secrets = tuple(sorted(found, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with URL passwords and registered secrets replaced by ``***``."""
    text = mask_urls(text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
