"""``s3meta dead-letters list|show|purge``: the dead-letter queue's messages; discarding junk."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import click

from s3meta.aws.sqs import Attribute, Queue
from s3meta.cli.errors import one_line_errors
from s3meta.config import get_settings
from s3meta.domain.terminal import printable
from s3meta.domain.times import iso_utc
from s3meta.domain.wording import counted
from s3meta.errors import PermanentError
from s3meta.operations.dead_letters import (
    SCAN_VISIBILITY_TIMEOUT,
    DeadLetter,
    ScanReport,
    find_dead_letter,
    list_dead_letters,
    purge_dead_letters,
)

# Characters of the body a list line shows.
_EXCERPT_CHARS = 60
_NONE = "-"


def _reason_text(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("give some text the reason must contain")
    return value


_reason_option = click.option(
    "--reason",
    metavar="TEXT",
    callback=_reason_text,
    help="Only messages whose recorded reason (the s3meta-reason attribute) contains TEXT, "
    "in any case. A message SQS moved here itself, after too many receives, has none.",
)


@click.group("dead-letters")
def dead_letters() -> None:
    """Look at the dead-letter queue's messages, and discard those that are junk.

    \b
    s3meta dead-letters list [--reason TEXT] [--limit N] [--json]
    s3meta dead-letters show MESSAGE_ID [--json]
    s3meta dead-letters purge [--reason TEXT] [--dry-run] [--yes] [--json]

    The queue is S3META_DEAD_LETTER_QUEUE. Each command receives every message once,
    holding it briefly, and makes what it did not delete visible again when it ends.
    `s3meta requeue --dead-letters` moves messages back to the events queue.
    """


@dead_letters.command("list")
@_reason_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="List at most N messages.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per message, one per line: exact body and original attributes.",
)
@one_line_errors()
def list_letters(reason: str | None, limit: int | None, as_json: bool) -> None:
    """List the messages, one line each.

    Each line: the message id, when it was sent, the original's receive count, its source
    queue, the reason it was dead-lettered, and the start of its body.
    """
    queue = _dead_letter_queue()

    def show(letter: DeadLetter) -> None:
        click.echo(
            json.dumps(letter_json(letter), ensure_ascii=False) if as_json else _line(letter)
        )

    report = list_dead_letters(queue, show, reason=reason, limit=limit, warn=_warn)
    if not as_json:
        which = "" if reason is None else f" whose reason contains {printable(repr(reason))}"
        click.echo(
            f"s3meta: listed {counted(report.matched, 'message')}{which} of "
            f"{report.looked_at} looked at in {queue.name}",
            err=True,
        )
        _say_where_it_stopped(report)


@dead_letters.command("show")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: body exactly.")
@click.pass_context
@one_line_errors()
def show_letter(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """Show one message in full.

    What s3meta recorded on it, the original message's attributes, and the body (indented
    when it is JSON).
    """
    queue = _dead_letter_queue()
    letter, report = find_dead_letter(queue, message_id, warn=_warn)
    if letter is None:
        click.echo(
            f"s3meta: no message {printable(message_id)} among the {report.looked_at} "
            f"looked at in {queue.name}",
            err=True,
        )
        _say_where_it_stopped(report)
        ctx.exit(1)
    if as_json:
        click.echo(json.dumps(letter_json(letter), ensure_ascii=False))
        return
    for name, value in letter_summary_json(letter).items():
        click.echo(f"{name:<20} {_NONE if value is None else printable(value)}")
    click.echo(f"{'sent_at':<20} {iso_utc(letter.message.sent_at) or _NONE}")
    attributes = _attributes(letter)
    click.echo(f"{'attributes':<20} {'' if attributes else '(none)'}".rstrip())
    for name, attribute in sorted(attributes.items()):
        click.echo(f"  {printable(name)} ({printable(attribute.data_type)}): {_value(attribute)}")
    click.echo("body:")
    click.echo(_pretty(letter.message.body))


@dead_letters.command("purge")
@_reason_option
@click.option(
    "--dry-run", is_flag=True, help="List the messages that would be deleted; delete nothing."
)
@click.option("--yes", is_flag=True, help="Delete without asking first.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the report.")
@one_line_errors()
def purge(reason: str | None, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Delete the messages whose reason matches, or every one.

    Without --reason, every message is deleted. The others are left in the queue, visible
    again as soon as the scan ends. Asks first, unless --yes.
    """
    queue = _dead_letter_queue()
    which = "every message" if reason is None else f"the messages whose reason contains {reason!r}"
    if not dry_run and not yes:
        about = counted(queue.depth().total, "message")
        click.confirm(
            f"Delete {printable(which)} of {queue.name} (about {about} in it)?",
            abort=True,
            err=True,
        )

    def show(letter: DeadLetter) -> None:
        if dry_run and not as_json:
            click.echo(_line(letter))

    report = purge_dead_letters(queue, reason=reason, dry_run=dry_run, on_letter=show, warn=_warn)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "queue": queue.name,
                    "reason": reason,
                    "dry_run": dry_run,
                    "looked_at": report.looked_at,
                    "matched": report.matched,
                    "deleted": report.deleted,
                    "not_deleted": report.not_deleted,
                    "stopped": report.stopped,
                },
                ensure_ascii=False,
            )
        )
    elif dry_run:
        click.echo(
            f"s3meta: would delete {counted(report.matched, 'message')} of "
            f"{report.looked_at} looked at in {queue.name}",
            err=True,
        )
    else:
        click.echo(
            f"s3meta: deleted {counted(report.deleted, 'message')} from {queue.name}; "
            f"{counted(report.looked_at - report.matched, 'other')} left in place"
        )
    if report.not_deleted:
        click.echo(
            f"s3meta: {counted(report.not_deleted, 'message')} matched but SQS did not delete "
            "them (their receipt expired); they are still in the queue",
            err=True,
        )
    if not as_json:
        _say_where_it_stopped(report)


def letter_summary_json(letter: DeadLetter) -> dict[str, Any]:
    """What s3meta recorded on a dead letter, JSON-ready."""
    return {
        "message_id": letter.message.message_id,
        "reason": letter.reason,
        "source_queue": letter.source_queue,
        "original_message_id": letter.original_id,
        "receive_count": letter.receive_count,
    }


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    """Everything about a dead letter, JSON-ready: its exact body, the original's attributes."""
    return {
        **letter_summary_json(letter),
        "sent_at": iso_utc(letter.message.sent_at),
        "attributes": {
            name: attribute.to_json() for name, attribute in sorted(_attributes(letter).items())
        },
        "body": letter.message.body,
    }


def _attributes(letter: DeadLetter) -> dict[str, Attribute]:
    """The original message's attributes; all the message has, if s3meta cannot read them."""
    try:
        return letter.original_attributes
    except PermanentError:
        # A packed attribute s3meta did not write: shown as it is rather than hiding the
        # message (requeue --dead-letters refuses to move it).
        return dict(letter.message.attributes)


def _dead_letter_queue() -> Queue:
    from s3meta.aws.clients import sqs_client

    settings = get_settings()
    return Queue(sqs_client(settings), settings.dead_letter_queue)


def _line(letter: DeadLetter) -> str:
    body = letter.message.body
    excerpt = body if len(body) <= _EXCERPT_CHARS else body[:_EXCERPT_CHARS] + "…"
    fields = [
        letter.message.message_id,
        f"sent {iso_utc(letter.message.sent_at) or _NONE}",
        f"receives {letter.receive_count or _NONE}",
        f"from {letter.source_queue or _NONE}",
        f"reason: {letter.reason or _NONE}",
        f"body: {excerpt}",
    ]
    return printable("  ".join(fields))


def _value(attribute: Attribute) -> str:
    json_form = attribute.to_json()
    if "BinaryValue" in json_form:
        return f"{json_form['BinaryValue']} (base64)"
    return printable(json_form["StringValue"])


def _pretty(body: str) -> str:
    """The body indented when it is JSON, as it is otherwise; escaped line by line."""
    with contextlib.suppress(ValueError):  # not JSON: shown as it is
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return "\n".join(printable(line) for line in body.split("\n"))


def _say_where_it_stopped(report: ScanReport) -> None:
    if report.stopped == "seen-all":
        click.echo(
            f"s3meta: messages looked at came round again (the scan outlasted its "
            f"{SCAN_VISIBILITY_TIMEOUT} s hold on them), so it stopped there: some may not "
            "have been looked at",
            err=True,
        )
    elif report.stopped == "cap":
        click.echo(f"s3meta: stopped after looking at {report.looked_at} messages", err=True)


def _warn(line: str) -> None:
    click.echo(f"s3meta: {line}", err=True)
