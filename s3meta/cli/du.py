"""``s3meta du``: objects and bytes under a prefix and its sub-prefixes, from the live totals.

Output
  Text: one line per prefix in key order, ``OBJECTS  SIZE  s3://BUCKET/PREFIX``, then the
  storage classes when more than one holds objects there. ``--json``: one JSON object per
  prefix and line, with every storage class's objects and bytes.

Exit status
  0: answered (a prefix holding nothing shows 0). 1: database trouble. 2: bad arguments, a
  prefix that does not end in the delimiter or is deeper than totals are kept included.
"""

from __future__ import annotations

import json
from typing import Any

import click

from db.engine import open_engine
from db.totals import PrefixUsage, TotalsReader
from s3meta import composition
from s3meta.config import get_settings
from s3meta.domain.terminal import printable
from s3meta.domain.totals import Total
from s3meta.domain.uris import parse_s3_prefix_uri
from s3meta.render import human_size


@click.command("du")
@click.argument("uri", metavar="s3://BUCKET[/PREFIX/]")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Also show the prefixes this many levels below (as far as totals are kept).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per prefix and line.")
@click.pass_context
def du(ctx: click.Context, uri: str, depth: int, as_json: bool) -> None:
    """Objects and bytes under s3://BUCKET[/PREFIX/], from totals kept with every write.

    Live objects only (deleted ones count nowhere); PREFIX ends in the delimiter
    (S3META_TOTALS_DELIMITER) and is at most S3META_TOTALS_DEPTH levels deep.
    """
    settings = get_settings()
    rule = composition.totals_rule(settings)
    try:
        bucket, prefix = parse_s3_prefix_uri(uri)
        rule.depth_of(prefix)
    except ValueError as exc:
        click.echo(f"s3meta du: {exc}", err=True)
        ctx.exit(2)
    with open_engine(composition.read_database_url(settings)) as engine:
        found = TotalsReader(engine, rule).usage(bucket, prefix, depth)
    if not found or found[0].prefix != prefix:
        found.insert(0, PrefixUsage(prefix, rule.depth_of(prefix), {}))
    for usage in found:
        if as_json:
            click.echo(json.dumps(usage_json(bucket, usage), ensure_ascii=False))
        else:
            click.echo(usage_line(bucket, usage))


def usage_json(bucket: str, usage: PrefixUsage) -> dict[str, Any]:
    total = usage.total
    return {
        "bucket": bucket,
        "prefix": usage.prefix,
        "depth": usage.depth,
        "objects": total.objects,
        "bytes": total.bytes,
        "storage_classes": {
            name: {"objects": each.objects, "bytes": each.bytes}
            for name, each in sorted(usage.by_class.items())
        },
    }


def usage_line(bucket: str, usage: PrefixUsage) -> str:
    total = usage.total
    line = f"{total.objects:>12}  {human_size(total.bytes):>10}  "
    line += printable(f"s3://{bucket}/{usage.prefix}")
    if len(usage.by_class) > 1:
        line += "  (" + ", ".join(_class(n, t) for n, t in sorted(usage.by_class.items())) + ")"
    return line


def _class(name: str, total: Total) -> str:
    return f"{name} {total.objects} / {human_size(total.bytes)}"
