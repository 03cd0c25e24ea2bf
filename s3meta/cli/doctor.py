"""``s3meta doctor``: the settings in effect and whether everything s3meta needs is there."""

from __future__ import annotations

import json

import click

from s3meta.cli.errors import one_line_errors
from s3meta.cli.params import bucket_names, buckets_option


@click.command("doctor")
@buckets_option(
    "A bucket to check (read access, notification wiring); repeat for more, or list "
    "them, separated by spaces, in S3META_BUCKETS as for `s3meta setup`."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors()
def doctor(buckets: tuple[str, ...], as_json: bool) -> None:
    """Print the effective settings (masked) and check the database, its schema, the read
    replica and the cache (when set), the queues and the buckets, one verdict each; exit
    status 1 if any check failed. Changes nothing."""
    from s3meta import composition
    from s3meta.aws.clients import s3_client, sqs_client
    from s3meta.config import get_settings
    from s3meta.operations.doctor import Verdict, effective_settings, run_checks

    settings = get_settings()
    chosen = bucket_names(buckets)
    shown = effective_settings(settings)
    checks = run_checks(
        settings,
        database_url=lambda: composition.database_url(settings),
        sqs=sqs_client(settings),
        s3=s3_client(settings),
        buckets=chosen,
        read_url=(
            (lambda: composition.read_database_url(settings))
            if settings.database_read_url
            else None
        ),
        cache=composition.cache(settings),
    )
    failed = [check for check in checks if check.verdict is Verdict.FAILED]
    if as_json:
        report = {
            "settings": shown,
            "checks": [check.to_json() for check in checks],
            "ok": not failed,
        }
        click.echo(json.dumps(report))
    else:
        width = max(len(name) for name in shown)
        for name, value in shown.items():
            click.echo(f"{name:<{width}}  {value}")
        click.echo()
        for check in checks:
            click.echo(f"{check.verdict:<7}  {check.name}: {check.detail}")
    if failed:
        raise click.exceptions.Exit(1)
