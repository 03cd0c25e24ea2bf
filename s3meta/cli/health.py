"""``s3meta health``: the health check that containers and service managers run."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import click

from s3meta.health import DEFAULT_MAX_AGE, check


@click.command("health")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The heartbeat file to read.  [default: S3META_HEALTH_FILE]",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=DEFAULT_MAX_AGE,
    show_default=True,
    help="Seconds since the last touch beyond which the process counts as stuck.",
)
@click.option(
    "--url",
    metavar="URL",
    help="Instead, ask this http:// URL (e.g. Flower's /healthcheck) for a 2xx answer.",
)
def health(path: Path | None, max_age: float, url: str | None) -> None:
    """Exit 0 if the process is working, 1 with the reason if not.

    A worker or bridge with S3META_HEALTH_FILE set touches that file every few seconds from
    the loop that does its work; this checks the file's age.
    """
    if url is not None:
        problem = _check_url(url)
    else:
        if path is None:
            from s3meta.config import health_file

            path = health_file()
        if path is None:
            raise click.UsageError("give --file or --url, or set S3META_HEALTH_FILE")
        problem = check(path, max_age)
    if problem is not None:
        raise click.ClickException(f"unhealthy: {problem}")
    click.echo("healthy")


def _check_url(url: str) -> str | None:
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("expected an http:// or https:// URL", param_hint="--url")
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (scheme checked)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{url} did not answer: {reason}"
    return None if 200 <= status < 300 else f"{url} answered {status}"
