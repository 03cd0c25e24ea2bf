"""``s3meta reconcile``: compare a bucket's listing with its rows, and optionally repair.

Output
  Text: one line per difference on stdout (at most ``--limit-report``; the rest are
  counted), ``KIND  s3://BUCKET/KEY  detail``, then the summary line(s) on stdout.
  ``--json``: one JSON object per line, every difference (``--limit-report`` does not
  apply) as ``{"type": "difference", ...}``, then one ``{"type": "summary", ...}`` last.

Exit status
  0: the comparison ran (in sync, or differences reported and/or queued for repair).
  3: with ``--check``, differences were found (also with ``--fix``: they were queued,
     not yet repaired). 1: an error (unknown bucket, S3 or database trouble, publishing
     failed). 2: bad arguments, a malformed ``s3://`` URI included.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from db.reader import open_reader
from s3meta import composition
from s3meta.aws.listing import is_versioned, iter_listing, iter_version_pages
from s3meta.cli.errors import one_line_errors
from s3meta.config import get_settings
from s3meta.domain.reconcile import Difference, Drift, Tally, VersionDifference
from s3meta.domain.terminal import printable
from s3meta.domain.uris import parse_s3_prefix_uri
from s3meta.domain.versions import in_listed_order
from s3meta.domain.wording import counted
from s3meta.errors import PermanentError
from s3meta.operations.reconcile import reconcile as run_reconcile
from s3meta.operations.reconcile import reconcile_versions as run_reconcile_versions

if TYPE_CHECKING:
    from tasks.publisher import CeleryPublisher

DRIFT_EXIT_STATUS = 3
DEFAULT_LIMIT_REPORT = 100
_OBJECT_WORDS = ("object", "row", "live")


@click.command("reconcile")
@click.argument("uri", metavar="s3://BUCKET[/PREFIX]")
@click.option(
    "--fix",
    is_flag=True,
    help="Queue one extract_metadata task per difference; each reads the object from S3 "
    "and repairs its row (created, updated, or marked deleted).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per line: every difference, then a summary object.",
)
@click.option(
    "--limit-report",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT_REPORT,
    show_default=True,
    help="Text output: list at most this many differences (all are counted and, with "
    "--fix, repaired).",
)
@click.option(
    "--totals",
    is_flag=True,
    help="Instead: recount the bucket's prefix totals from its rows and repair those that "
    "differ (no S3 listing; workers may keep running).",
)
@click.option(
    "--versions",
    is_flag=True,
    help="Compare every version (ListObjectVersions) with object_versions instead: MISSING "
    "(no standing row), STALE (a standing row, not listed) or CHANGED (ETag, size or delete "
    "marker differ); --fix queues a task per differing version.",
)
@click.option(
    "--check",
    is_flag=True,
    help=f"Exit with status {DRIFT_EXIT_STATUS} when any difference was found.",
)
@click.pass_context
def reconcile(
    ctx: click.Context,
    uri: str,
    fix: bool,
    as_json: bool,
    limit_report: int,
    totals: bool,
    versions: bool,
    check: bool,
) -> None:
    """Compare s3://BUCKET[/PREFIX] with its rows in one streaming pass.

    Both the ListObjectsV2 pages and the rows are read in key order and merged, so memory
    stays constant for any bucket size. A difference is MISSING (an object without a live
    row), STALE (a live row without an object) or CHANGED (ETag or size differ). Rows
    marked deleted for objects that are gone are in sync.

    With --versions, every version (ListObjectVersions) is compared with object_versions
    instead, a key at a time. With --totals, the prefix totals of s3://BUCKET are recounted
    from its rows instead, and those that differ repaired at once.

    Exit status: 0 when the comparison ran; with --check, 3 when differences were found
    (totals repaired, with --totals); 1 on errors; 2 on bad arguments.
    """
    try:
        bucket, prefix = parse_s3_prefix_uri(uri)
        if totals and prefix:
            raise ValueError(f"--totals recounts a whole bucket: give s3://{bucket}")
        if totals and fix:
            raise ValueError("--totals repairs the totals itself: --fix is for rows")
        if totals and versions:
            raise ValueError("--totals recounts the totals from rows: not with --versions")
    except ValueError as exc:
        click.echo(f"s3meta reconcile: {exc}", err=True)
        ctx.exit(2)
    if totals:
        with one_line_errors():
            repaired = _repair_totals(bucket, as_json=as_json, limit_report=limit_report)
        if check and repaired:
            ctx.exit(DRIFT_EXIT_STATUS)
        return
    with one_line_errors():
        tally = _run(
            bucket, prefix, fix=fix, as_json=as_json, limit_report=limit_report, versions=versions
        )
    if check and tally.drift:
        ctx.exit(DRIFT_EXIT_STATUS)


def _run(
    bucket: str, prefix: str, *, fix: bool, as_json: bool, limit_report: int, versions: bool
) -> Tally:
    from s3meta.aws.clients import s3_client

    settings = get_settings()
    client = s3_client(settings)
    shown = 0

    def report(difference: Difference | VersionDifference, task_id: str | None) -> None:
        nonlocal shown
        if as_json:
            click.echo(json.dumps(_difference_json(bucket, difference, task_id)))
        elif shown < limit_report:
            click.echo(_difference_line(bucket, difference))
            shown += 1

    publisher = _publisher() if fix else None
    with open_reader(composition.database_url(settings)) as reader:
        if versions:
            if not is_versioned(client, bucket):
                # Its "null" versions are never recorded as versions: all would be missing.
                raise PermanentError(
                    f"s3://{bucket} has never had versioning enabled: reconcile it without "
                    "--versions"
                )
            pages = iter_version_pages(client, bucket, prefix)
            listing = in_listed_order(version for page in pages for version in page)
            done = run_reconcile_versions(
                reader, listing, bucket, prefix, publisher=publisher, on_difference=report
            )
        else:
            done = run_reconcile(
                reader,
                iter_listing(client, bucket, prefix),
                bucket,
                prefix,
                publisher=publisher,
                on_difference=report,
            )
    if as_json:
        summary = _summary_json(bucket, prefix, done.tally, fix, done.queued)
        click.echo(json.dumps({**summary, "versions": True} if versions else summary))
    else:
        _print_summary(bucket, prefix, done.tally, fix, done.queued, shown, versions=versions)
    return done.tally


def _version_difference_line(bucket: str, difference: VersionDifference) -> str:
    listed, recorded = difference.listed, difference.recorded
    where = printable(f"s3://{bucket}/{difference.key}  version {difference.version_id}")
    if difference.kind is Drift.MISSING:
        assert listed is not None
        detail = "no row" if recorded is None else "row marked removed"
        return f"missing  {where}  ({detail}; {_version_text(listed.etag, listed.size)})"
    if difference.kind is Drift.STALE:
        return f"stale    {where}  (row stands; not listed)"
    assert listed is not None
    assert recorded is not None
    before = _version_text(None if recorded.delete_marker else recorded.etag, recorded.size)
    return f"changed  {where}  ({before} -> {_version_text(listed.etag, listed.size)})"


def _version_text(etag: str | None, size: int | None) -> str:
    return "delete marker" if etag is None else f"etag {etag}, size {size}"


def _version_difference_json(
    bucket: str, difference: VersionDifference, task_id: str | None
) -> dict[str, Any]:
    listed, recorded = difference.listed, difference.recorded
    return {
        "type": "difference",
        "kind": str(difference.kind),
        "bucket": bucket,
        "key": difference.key,
        "version_id": difference.version_id,
        "object": None
        if listed is None
        else {
            "etag": listed.etag,
            "size": listed.size,
            "delete_marker": listed.is_delete_marker,
        },
        "row": None
        if recorded is None
        else {
            "etag": recorded.etag,
            "size": recorded.size,
            "delete_marker": recorded.delete_marker,
            "removed": recorded.removed,
        },
        "task_id": task_id,
    }


def _repair_totals(bucket: str, *, as_json: bool, limit_report: int) -> int:
    """Recount ``bucket``'s totals and repair them, reporting each repair; how many."""
    from db.engine import open_engine
    from db.totals import repair

    settings = get_settings()
    with open_engine(composition.database_url(settings)) as engine:
        repairs = repair(engine, bucket, composition.totals_rule(settings))
    for shown, fixed in enumerate(repairs):
        key, found, expected = fixed.key, fixed.found, fixed.expected
        if as_json:
            line = {
                "type": "repair",
                "bucket": bucket,
                "prefix": key.prefix,
                "storage_class": key.storage_class,
                "found": {"objects": found.objects, "bytes": found.bytes},
                "expected": {"objects": expected.objects, "bytes": expected.bytes},
            }
            click.echo(json.dumps(line, ensure_ascii=False))
        elif shown < limit_report:
            where = printable(f"s3://{bucket}/{key.prefix}")
            click.echo(
                f"repaired  {where}  {key.storage_class}: objects {found.objects} -> "
                f"{expected.objects}, bytes {found.bytes} -> {expected.bytes}"
            )
    if as_json:
        click.echo(json.dumps({"type": "summary", "bucket": bucket, "repaired": len(repairs)}))
    else:
        if len(repairs) > limit_report:
            click.echo(f"... and {len(repairs) - limit_report} more (see --json)")
        click.echo(
            f"s3meta: s3://{bucket}: totals recounted; repaired {counted(len(repairs), 'total')}"
        )
    return len(repairs)


def _publisher() -> CeleryPublisher:
    from tasks.publisher import CeleryPublisher

    return CeleryPublisher()


def _difference_line(bucket: str, difference: Difference | VersionDifference) -> str:
    if isinstance(difference, VersionDifference):
        return _version_difference_line(bucket, difference)
    listed, recorded = difference.listed, difference.recorded
    where = printable(f"s3://{bucket}/{difference.key}")
    if difference.kind is Drift.MISSING:
        assert listed is not None
        detail = "no row" if recorded is None else "row marked deleted"
        return f"missing  {where}  ({detail}; object etag {listed.etag}, size {listed.size})"
    if difference.kind is Drift.STALE:
        return f"stale    {where}  (row is live; no such object)"
    assert listed is not None
    assert recorded is not None
    changes = []
    if listed.etag != recorded.etag:
        changes.append(f"etag {recorded.etag} -> {listed.etag}")
    if listed.size != recorded.size:
        changes.append(f"size {recorded.size} -> {listed.size}")
    return f"changed  {where}  ({', '.join(changes) or 'etag differs'})"


def _difference_json(
    bucket: str, difference: Difference | VersionDifference, task_id: str | None
) -> dict[str, Any]:
    if isinstance(difference, VersionDifference):
        return _version_difference_json(bucket, difference, task_id)
    listed, recorded = difference.listed, difference.recorded
    return {
        "type": "difference",
        "kind": str(difference.kind),
        "bucket": bucket,
        "key": difference.key,
        "object": None if listed is None else {"etag": listed.etag, "size": listed.size},
        "row": None
        if recorded is None
        else {"etag": recorded.etag, "size": recorded.size, "deleted": recorded.deleted},
        "task_id": task_id,
    }


def _summary_json(bucket: str, prefix: str, tally: Tally, fix: bool, queued: int) -> dict[str, Any]:
    return {
        "type": "summary",
        "bucket": bucket,
        "prefix": prefix,
        "listed": tally.listed,
        "rows": tally.rows,
        "live_rows": tally.live_rows,
        "in_sync": tally.in_sync,
        "missing": tally.missing,
        "stale": tally.stale,
        "changed": tally.changed,
        "differences": tally.drift,
        "fix": fix,
        "queued": queued,
    }


def _print_summary(
    bucket: str, prefix: str, tally: Tally, fix: bool, queued: int, shown: int, *, versions: bool
) -> None:
    if tally.drift > shown:
        click.echo(f"... and {tally.drift - shown} more (see --limit-report or --json)")
    where = printable(f"s3://{bucket}/{prefix}")
    listed, rows, live = (
        ("version", "version row", "standing") if versions else ("object", "row", "live")
    )
    click.echo(
        f"s3meta: {where}: listed {counted(tally.listed, listed)}, "
        f"{counted(tally.rows, rows)} ({tally.live_rows} {live}); in sync {tally.in_sync}, "
        f"missing {tally.missing}, stale {tally.stale}, changed {tally.changed}"
    )
    if fix:
        click.echo(f"s3meta: queued {counted(queued, 'repair task')}")
    elif tally.drift:
        click.echo("s3meta: run again with --fix to queue the repairs")
    else:
        click.echo("s3meta: in sync")
