"""``s3meta broker-cleanup``: remove what killed workers and monitors left on SQS and SNS."""

from __future__ import annotations

import json
from datetime import timedelta

import click

from s3meta.cli.errors import one_line_errors
from s3meta.deployment.broker import MIN_IDLE
from s3meta.domain.times import format_age, iso_utc, parse_span


def _idle_span(_ctx: click.Context, _param: click.Parameter, value: str) -> timedelta:
    try:
        span = parse_span(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if span < MIN_IDLE:
        # A live queue is tagged every few minutes; a shorter threshold could take it.
        raise click.BadParameter(f"must be at least {format_age(MIN_IDLE.total_seconds())}")
    return span


@click.command("broker-cleanup")
@click.option(
    "--older-than",
    "idle",
    default="1h",
    show_default=True,
    metavar="SPAN",
    callback=_idle_span,
    help="Remove queues with no sign of life for this long (30m, 1h, 2d; at least 10m).",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@one_line_errors()
def broker_cleanup(idle: timedelta, dry_run: bool, as_json: bool) -> None:
    """Delete remote control and event queues that dead processes left, and SNS
    subscriptions whose queue is gone.

    Only s3meta's own names are touched: monitors' event queues (s3meta-celeryev-<uuid>),
    reply queues (<uuid>-reply-s3meta-pidbox), worker queues (<node>-s3meta-pidbox), and
    the subscriptions of the s3meta-pidbox and s3meta-celeryev topics. Running processes
    tag their queues every 5 minutes; a queue counts as left behind once neither that tag
    nor its creation is more recent than --older-than. A clean shutdown deletes its own.
    """
    from s3meta.aws.broker_cleanup import clean_broker
    from s3meta.aws.clients import sns_client, sqs_client
    from s3meta.config import get_settings

    settings = get_settings()
    done = clean_broker(sqs_client(settings), sns_client(settings), idle=idle, dry_run=dry_run)
    if as_json:
        queues = [
            {"name": q.name, "kind": str(q.kind), "idle_since": iso_utc(q.idle_since)}
            for q in done.queues
        ]
        body = {"dry_run": dry_run, "queues": queues, "subscriptions": done.subscriptions}
        click.echo(json.dumps(body))
        return
    verb = "would remove" if dry_run else "removed"
    for queue in done.queues:
        click.echo(
            f"{verb} {queue.kind} queue {queue.name} (idle since {iso_utc(queue.idle_since)})"
        )
    for subscription in done.subscriptions:
        click.echo(f"{verb} subscription {subscription}")
    click.echo(f"{verb} {len(done.queues)} queue(s), {len(done.subscriptions)} subscription(s)")
