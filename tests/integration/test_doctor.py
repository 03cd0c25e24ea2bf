"""``s3meta doctor`` against moto's server and MariaDB: green after setup, named failures."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from click.testing import Result

from db.migrations import head_revision
from s3meta.cli import main
from s3meta.processes import free_port
from tests.support.cli import invoke
from tests.support.database import migrate, scratch_mysql_database
from tests.support.redis import REDIS_URL, redis_prefix
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql


@pytest.fixture
def wired(stack: Stack) -> dict[str, str]:
    """Settings of a bucket and queues of this test's own, after `s3meta setup`."""
    suffix = uuid.uuid4().hex[:8]
    env = {
        "S3META_EVENTS_QUEUE": f"doctor-events-{suffix}",
        "S3META_DEAD_LETTER_QUEUE": f"doctor-dlq-{suffix}",
        "S3META_TASK_QUEUE": f"doctor-tasks-{suffix}",
        "S3META_BUCKETS": f"doctor-{suffix}",
        "AWS_ENDPOINT_URL_S3": stack.moto.url,
    }
    done = invoke(main, "setup", "--create-buckets", **env)
    assert done.exit_code == 0, done.output
    return env


def doctor(*args: str, **env: str) -> Result:
    return invoke(main, "doctor", *args, **env)


def verdicts(result: Result) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(result.stdout)
    return {check["check"]: check for check in report["checks"]}


def test_everything_is_green_after_setup(wired: dict[str, str]) -> None:
    result = doctor(**wired)

    assert result.exit_code == 0, result.output
    checks = [line for line in result.stdout.splitlines() if line.startswith(("ok ", "failed "))]
    assert checks, result.stdout
    assert all(line.startswith("ok ") for line in checks), result.stdout
    names = [line.split(":")[0].split(maxsplit=1)[1] for line in checks]
    bucket = wired["S3META_BUCKETS"]
    assert names == [
        "database", "schema", "events queue", "task queue", "dead-letter queue", f"bucket {bucket}"
    ]  # fmt: skip


def test_the_settings_are_shown_with_secrets_masked(stack: Stack, wired: dict[str, str]) -> None:
    url = stack.database_url.replace("root@", "root:hunter2pw@")
    secret = "wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY"

    result = doctor("--json", **wired, AWS_SECRET_ACCESS_KEY=secret, S3META_DATABASE_URL=url)

    report = json.loads(result.stdout)
    assert report["settings"]["S3META_DATABASE_URL"] == url.replace("hunter2pw", "***")
    assert report["settings"]["AWS_SECRET_ACCESS_KEY"] == "***"
    assert "hunter2pw" not in result.output
    assert secret not in result.output


def test_a_missing_queue_is_a_named_failure_and_exit_1(stack: Stack, wired: dict[str, str]) -> None:
    sqs = stack.sqs()
    name = wired["S3META_DEAD_LETTER_QUEUE"]
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"])

    result = doctor("--json", **wired)

    assert result.exit_code == 1, result.output
    checks = verdicts(result)
    assert checks["dead-letter queue"]["verdict"] == "failed"
    assert "no such queue (run `s3meta setup`)" in checks["dead-letter queue"]["detail"]
    assert name in checks["dead-letter queue"]["detail"]
    failed = [name for name, check in checks.items() if check["verdict"] == "failed"]
    assert failed == ["dead-letter queue"]


def test_a_bucket_without_the_notification_is_a_named_failure(
    stack: Stack, wired: dict[str, str]
) -> None:
    bucket = wired["S3META_BUCKETS"]
    stack.s3().put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})

    result = doctor("--json", **wired)

    assert result.exit_code == 1, result.output
    detail = verdicts(result)[f"bucket {bucket}"]["detail"]
    assert detail == (
        f"readable; no notification to the events queue: run `s3meta setup` --bucket {bucket}"
    )


def test_a_schema_behind_head_is_a_named_failure(wired: dict[str, str]) -> None:
    with scratch_mysql_database() as url:
        migrate(url, "0001")
        result = doctor(**wired, S3META_DATABASE_URL=url)

    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "ok       database: reachable at " + url in lines
    assert (
        f"failed   schema: schema behind: revision 0001, head is {head_revision()}; "
        "run `alembic upgrade head`" in lines
    )


def test_a_database_secret_that_cannot_be_read_fails_the_database_check_only(
    stack: Stack, wired: dict[str, str]
) -> None:
    url = stack.database_url.replace("root@", "nobody@")

    result = doctor(
        "--json", **wired, S3META_DATABASE_URL=url, S3META_DATABASE_SECRET_ARN="s3meta/missing"
    )

    assert result.exit_code == 1, result.output
    checks = verdicts(result)
    assert checks["database"]["verdict"] == "failed"
    assert checks["database"]["detail"].startswith(
        "S3META_DATABASE_SECRET_ARN='s3meta/missing': no such secret in Secrets Manager"
    )
    assert checks["schema"]["verdict"] == "skipped"
    assert checks["events queue"]["verdict"] == "ok"


def test_a_cache_that_answers_is_ok_and_one_that_does_not_is_a_named_failure(
    wired: dict[str, str],
) -> None:
    with redis_prefix() as prefix:
        answering = verdicts(
            doctor("--json", **wired, S3META_CACHE_URL=REDIS_URL, S3META_CACHE_PREFIX=prefix)
        )
    gone = f"redis://127.0.0.1:{free_port()}/0"
    result = doctor("--json", **wired, S3META_CACHE_URL=gone)

    assert answering["cache"] == {
        "check": "cache",
        "verdict": "ok",
        "detail": f"answers at {REDIS_URL}",
    }
    assert result.exit_code == 1, result.output
    failed = verdicts(result)["cache"]
    assert failed["verdict"] == "failed"
    assert failed["detail"].startswith(f"{gone}: cache unavailable: ")


def test_no_cache_and_no_replica_set_are_skipped(wired: dict[str, str]) -> None:
    checks = verdicts(doctor("--json", **wired))

    assert checks["cache"]["verdict"] == "skipped"
    assert checks["read replica"]["verdict"] == "skipped"


def test_a_read_url_that_is_no_replica_is_a_named_failure(
    stack: Stack, wired: dict[str, str]
) -> None:
    result = doctor("--json", **wired, S3META_DATABASE_READ_URL=stack.database_url)

    assert result.exit_code == 1, result.output
    replica = verdicts(result)["read replica"]
    assert replica["verdict"] == "failed"
    assert replica["detail"] == (
        f"{stack.database_url}: the read database is not a replica (SHOW REPLICA STATUS is empty)"
    )
