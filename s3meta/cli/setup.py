"""``s3meta setup``: the queues, the events queue's policy, the buckets' notifications."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import click

from s3meta.cli.errors import one_line_errors
from s3meta.cli.params import bucket_names, buckets_option
from s3meta.deployment.notifications import KeyFilter
from s3meta.domain.objects import MAX_KEY_BYTES

_ACCOUNT_ID = re.compile(r"[0-9]{12}")
EVERY_BUCKET = "*"


@click.command("setup")
@buckets_option(
    "A bucket whose objects s3meta indexes; repeat for more (or list them, separated by "
    "spaces, in S3META_BUCKETS). With --iam-policy worker or lambda, '*' means every bucket."
)
@click.option("--prefix", default="", help="Only keys that start with this.")
@click.option("--suffix", default="", help="Only keys that end with this.")
@click.option(
    "--create-buckets",
    is_flag=True,
    envvar="S3META_CREATE_BUCKETS",
    help="Create a bucket that does not exist instead of failing (a local stand-in, a new "
    "deployment; needs s3:CreateBucket).",
)
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON object.")
@click.option(
    "--iam-policy",
    type=click.Choice(["worker", "bridge", "lambda"]),
    help="Instead, print a least-privilege IAM policy for that role (makes no AWS call).",
)
@click.option(
    "--account-id",
    metavar="ACCOUNT",
    help="With --iam-policy: the account of the queue ARNs.  [default: *]",
)
@click.option(
    "--kms-key",
    "kms_keys",
    multiple=True,
    metavar="ARN",
    help="With --iam-policy: a KMS key the role uses (worker: kms:Decrypt for SSE-KMS "
    "objects; bridge and lambda: kms:Decrypt and kms:GenerateDataKey for SSE-KMS queues, and "
    "objects for lambda). Repeatable.",
)
@one_line_errors()
def setup(
    buckets: tuple[str, ...],
    prefix: str,
    suffix: str,
    create_buckets: bool,
    dry_run: bool,
    as_json: bool,
    iam_policy: str | None,
    account_id: str | None,
    kms_keys: tuple[str, ...],
) -> None:
    """Create the queues and wire the buckets' notifications to the events queue.

    Idempotent: creates what is missing (dead-letter queue, events queue with its redrive
    policy and the policy that lets S3 send to it, Celery task queue), updates attributes that
    differ, and adds s3meta's notification to each bucket, keeping every other configuration
    the bucket has. Nothing is written when nothing differs. Needs sts:GetCallerIdentity,
    sqs:GetQueueUrl, sqs:GetQueueAttributes, sqs:CreateQueue, sqs:SetQueueAttributes,
    s3:GetBucketNotification and s3:PutBucketNotification.

    With --iam-policy, prints the IAM policy of the worker, the bridge or the Lambda
    function's role instead (the Lambda's adds to Lambda's own execution and VPC roles: it
    reads the events queue through its event source mapping and dead-letters; with
    S3META_DATABASE_IAM_AUTH it may connect as the database URL's user). Worker and bridge
    grant sqs:CreateQueue on the task queue and sqs:ListQueues because kombu lists the queues
    at start and creates the task queue when it is missing (unless its transport option
    predefined_queues is set). The worker's also grants s3:ListBucket: without it S3 answers
    HeadObject on a deleted key with 403 instead of 404, and the deletion would be recorded as
    a failure. It follows the configuration: with S3META_DATABASE_SECRET_ARN it may read that
    secret, with S3META_CLOUDWATCH_NAMESPACE put metrics in that namespace.
    """
    key_filter = KeyFilter(_key_part(prefix, "--prefix"), _key_part(suffix, "--suffix"))
    if iam_policy is not None:
        if dry_run or create_buckets:
            raise click.UsageError(
                "--iam-policy makes no change: --dry-run and --create-buckets do not apply"
            )
        _print_iam_policy(iam_policy, buckets, key_filter, account_id, kms_keys)
        return
    if account_id is not None or kms_keys:
        raise click.UsageError("--account-id and --kms-key go with --iam-policy")
    if not buckets:
        raise click.UsageError("give at least one --bucket")
    _run_setup(
        bucket_names(buckets),
        key_filter,
        create_buckets=create_buckets,
        dry_run=dry_run,
        as_json=as_json,
    )


def _run_setup(
    buckets: list[str],
    key_filter: KeyFilter,
    *,
    create_buckets: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    from s3meta.aws.clients import s3_client, sqs_client, sts_client
    from s3meta.config import get_settings
    from s3meta.operations.setup import Action, Setup

    settings = get_settings()
    setup_ = Setup(
        settings, sqs=sqs_client(settings), s3=s3_client(settings), sts=sts_client(settings)
    )
    plan = setup_.plan(buckets, key_filter, create_buckets=create_buckets)
    if dry_run:
        if as_json:
            click.echo(json.dumps(plan.to_json(dry_run=True), indent=2))
            return
        for action in plan.actions:
            click.echo(action.summary)
        if plan.actions:
            click.echo(f"dry run: {len(plan.actions)} change(s) planned, nothing changed")
        else:
            click.echo("nothing to change")
        return

    def done(action: Action) -> None:
        if not as_json:
            click.echo(action.summary)

    setup_.apply(plan, done)
    if as_json:
        click.echo(json.dumps(plan.to_json(dry_run=False), indent=2))
    elif plan.actions:
        click.echo(f"{len(plan.actions)} change(s) made")
    else:
        click.echo("nothing to change")


def _print_iam_policy(
    role: str,
    buckets: Sequence[str],
    key_filter: KeyFilter,
    account_id: str | None,
    kms_keys: Sequence[str],
) -> None:
    from s3meta.aws.clients import region
    from s3meta.config import get_settings
    from s3meta.deployment.arns import queue_arn, secret_arn
    from s3meta.deployment.iam import (
        bridge_iam_policy,
        database_user_arn,
        lambda_iam_policy,
        worker_iam_policy,
    )

    account = account_id or "*"
    if account != "*" and not _ACCOUNT_ID.fullmatch(account):
        raise click.BadParameter("an AWS account id is 12 digits", param_hint="--account-id")
    for key in kms_keys:
        if not key.startswith("arn:") and key != "*":
            raise click.BadParameter(f"not an ARN: {key!r}", param_hint="--kms-key")
    # The policy needs the secret's name, not its contents: nothing here reads it.
    settings = get_settings()
    region_name = region(settings)
    if role == "bridge":
        policy = bridge_iam_policy(
            events_queue_arn=queue_arn(region_name, account, settings.events_queue),
            task_queue_arn=queue_arn(region_name, account, settings.task_queue),
            dead_letter_queue_arn=queue_arn(region_name, account, settings.dead_letter_queue),
            kms_keys=kms_keys,
        )
        click.echo(json.dumps(policy, indent=2))
        return
    chosen = _policy_buckets(role, buckets)
    secret = (
        secret_arn(region_name, account, settings.database_secret_arn)
        if settings.database_secret_arn
        else None
    )
    if role == "worker":
        policy = worker_iam_policy(
            region=region_name,
            buckets=chosen,
            task_queue_arn=queue_arn(region_name, account, settings.task_queue),
            key_filter=key_filter,
            kms_keys=kms_keys,
            database_secret_arn=secret,
            metrics_namespace=settings.cloudwatch_namespace,
        )
    else:
        user = _database_user(settings.database_url) if settings.database_iam_auth else None
        policy = lambda_iam_policy(
            region=region_name,
            buckets=chosen,
            events_queue_arn=queue_arn(region_name, account, settings.events_queue),
            dead_letter_queue_arn=queue_arn(region_name, account, settings.dead_letter_queue),
            key_filter=key_filter,
            kms_keys=kms_keys,
            database_secret_arn=secret,
            database_user_arn=database_user_arn(region_name, account, user) if user else None,
            metrics_namespace=settings.cloudwatch_namespace,
        )
    click.echo(json.dumps(policy, indent=2))


def _policy_buckets(role: str, buckets: Sequence[str]) -> list[str]:
    if not buckets:
        raise click.UsageError(
            f"--iam-policy {role} needs at least one --bucket (or --bucket '*' for every bucket)"
        )
    if EVERY_BUCKET in buckets:
        click.echo(f"warning: --bucket '*' lets the {role} read every bucket's objects", err=True)
        return [EVERY_BUCKET]
    return bucket_names(buckets)


def _database_user(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    user = make_url(database_url).username
    if not user:
        raise click.UsageError(
            "S3META_DATABASE_IAM_AUTH is set but S3META_DATABASE_URL names no user to connect as"
        )
    return user


def _key_part(value: str, option: str) -> str:
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise click.BadParameter("not valid UTF-8", param_hint=option) from None
    if size > MAX_KEY_BYTES:
        raise click.BadParameter(f"longer than a key ({MAX_KEY_BYTES} bytes)", param_hint=option)
    return value
