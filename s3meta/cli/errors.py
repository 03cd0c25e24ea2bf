"""One place that turns s3meta's errors into click's: one line and exit status 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from s3meta.domain.terminal import printable
from s3meta.errors import S3MetaError
from s3meta.masking import redact


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Re-raise an ``S3MetaError`` as a ``click.ClickException``: one line, never a traceback.

    A context manager and, as ``@one_line_errors()`` under a command's options, a decorator:
    the ``s3meta`` group applies it too, but tests invoke commands without the group.
    The message has URL passwords and known secrets masked, and control characters escaped.
    """
    try:
        yield
    except S3MetaError as exc:
        raise click.ClickException(printable(redact(str(exc)))) from exc
