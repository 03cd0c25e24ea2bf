"""click callbacks that check and convert the arguments and options commands share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import click

from s3meta.domain.times import parse_since
from s3meta.domain.uris import parse_s3_prefix_uri, parse_s3_uri, validate_bucket_name

F = TypeVar("F", bound=Callable[..., object])


def buckets_option(help_text: str) -> Callable[[F], F]:
    """``--bucket BUCKET``, repeatable, or the buckets listed (space-separated) in
    ``S3META_BUCKETS``; the values unchecked (``bucket_names`` checks them)."""
    return click.option(
        "--bucket",
        "buckets",
        multiple=True,
        metavar="BUCKET",
        envvar="S3META_BUCKETS",
        help=help_text,
    )


def which_rows_options(verb: str) -> Callable[[F], F]:
    """``--include-deleted/--live-only`` and ``--include-never-seen``, as ``list`` takes them,
    their help saying ``verb`` ("list", "export")."""
    deleted = click.option(
        "--include-deleted/--live-only",
        default=True,
        show_default=True,
        help=f"Also {verb} objects that were removed (marked deleted), or only live ones.",
    )
    never_seen = click.option(
        "--include-never-seen",
        is_flag=True,
        help=f"Also {verb} keys never seen in S3: requeued or removed while HeadObject found "
        "no object, and no event showed one existed (a typo in a requeue, say).",
    )

    def decorate(command: F) -> F:
        return deleted(never_seen(command))

    return decorate


def bucket_names(buckets: Sequence[str]) -> list[str]:
    """The buckets, each checked, duplicates dropped, in the order given; a usage error
    naming ``--bucket`` at the first invalid one."""
    checked: list[str] = []
    for bucket in buckets:
        try:
            validate_bucket_name(bucket)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--bucket") from None
        if bucket not in checked:
            checked.append(bucket)
    return checked


def bucket_name(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A valid S3 bucket name (or no value); else a usage error saying why."""
    if value is None:
        return None
    try:
        return validate_bucket_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def s3_uri(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://BUCKET/KEY``; else a usage error saying why."""
    try:
        return parse_s3_uri(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def s3_prefix_uri(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://BUCKET[/PREFIX]``; else a usage error saying why."""
    try:
        return parse_s3_prefix_uri(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def s3_uris(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[tuple[str, str]]:
    """``(bucket, key)`` of each ``s3://BUCKET/KEY``; a usage error at the first bad one."""
    return [s3_uri(ctx, param, value) for value in values]


def since_time(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """The moment ``--since`` names (ISO 8601 or a span back from now), aware UTC."""
    if value is None:
        return None
    try:
        return parse_since(value, datetime.now(UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
