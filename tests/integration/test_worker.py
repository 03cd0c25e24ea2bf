"""``extract_metadata`` on a real ``celery -A tasks worker``, against moto's server and MariaDB."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from celery.result import AsyncResult

from db.engine import create_engine
from s3meta.cli.query import list_objects, show
from s3meta.cli.requeue import requeue as requeue_command
from s3meta.cli.stats import stats as stats_command
from s3meta.domain.attempts import Outcome
from s3meta.domain.records import ObjectFilter
from s3meta.errors import InvalidTaskArguments
from s3meta.processes import wait_for
from tasks import app, extract_metadata
from tests.support.cli import invoke
from tests.support.faults import Fault
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60


def rfc2047(text: str) -> str:
    """How a client sends non-ASCII user metadata to S3."""
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


def run(bucket: str, key: str, **event: object) -> AsyncResult:
    result = extract_metadata.delay(bucket, key, **event)
    result.get(timeout=RESULT_TIMEOUT, propagate=False)
    return result


def outcomes(stack: Stack, bucket: str, key: str) -> list[str]:
    return [attempt.outcome for attempt in stack.reader.attempts(bucket, key)]


def worker_lines_about(stack: Stack, task_id: str, since: int) -> tuple[list[str], str]:
    """The worker's log lines naming ``task_id`` (but "received"), and all it logged since.

    Celery logs a failure after storing its result, so a later task's "succeeded" line is
    waited for first: by then the failed task has logged all it will.
    """
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="sentinel", Body=b"s")
    sentinel = run(bucket, "sentinel")
    wait_for(
        lambda: any(
            sentinel.id in line and "succeeded" in line for line in stack.worker.log().splitlines()
        ),
        RESULT_TIMEOUT,
        "the sentinel task's success line",
    )
    logged = stack.worker.log()[since:]
    lines = [line for line in logged.splitlines() if task_id in line and " received" not in line]
    return lines, logged


def test_an_uploaded_object_gets_a_row_with_every_field_right(stack: Stack) -> None:
    bucket = stack.new_bucket(versioned=True)
    key = "reports/2026/q3 summary.pdf"
    put = stack.s3().put_object(
        Bucket=bucket,
        Key=key,
        Body=b"%PDF-1.7 fake",
        ContentType="application/pdf",
        StorageClass="STANDARD_IA",
        Metadata={"author": "ana", "city": rfc2047("Zürich, 東京")},
    )
    head = stack.s3().head_object(Bucket=bucket, Key=key)

    result = run(bucket, key)

    assert result.successful(), result.traceback
    assert result.result["outcome"] == "succeeded"
    row = stack.reader.get(bucket, key)
    assert row is not None
    assert row.object_key == key
    assert row.size == len(b"%PDF-1.7 fake")
    assert row.etag == put["ETag"].strip('"')
    assert row.content_type == "application/pdf"
    assert row.last_modified == head["LastModified"].astimezone(UTC)
    assert row.version_id == put["VersionId"]
    assert row.storage_class == "STANDARD_IA"
    assert row.user_metadata == {"author": "ana", "city": "Zürich, 東京"}
    assert row.is_deleted is False
    assert row.last_task_id == result.id
    assert outcomes(stack, bucket, key) == [Outcome.SUCCEEDED]


@pytest.mark.parametrize(
    "key",
    [
        "with space/and+plus.txt",
        "ünïcödé/日本語/файл.bin",
        "percent%2Bliteral & ampersand?.txt",
        "k/" + "é" * 511,  # 2 + 1022 bytes: S3's limit of 1024 bytes of UTF-8
    ],
    ids=["space-plus", "non-ascii", "percent", "1024-bytes"],
)
def test_awkward_keys_are_indexed_under_their_exact_name(stack: Stack, key: str) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key=key, Body=b"x")

    result = run(bucket, key)

    assert result.successful(), result.traceback
    row = stack.reader.get(bucket, key)
    assert row is not None
    assert row.object_key == key
    assert row.size == 1


def test_running_the_task_twice_leaves_one_row(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="twice.txt", Body=b"one")
    run(bucket, "twice.txt")
    stack.s3().put_object(Bucket=bucket, Key="twice.txt", Body=b"three")
    run(bucket, "twice.txt")

    rows = list(stack.reader.iter_objects(ObjectFilter(bucket)))

    assert [(row.object_key, row.size) for row in rows] == [("twice.txt", 5)]


def test_event_fields_are_stored_and_kept_by_a_manual_requeue(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="evented.txt", Body=b"e")
    run(
        bucket,
        "evented.txt",
        event_name="ObjectCreated:Put",
        event_time="2026-11-20T10:15:30.123Z",
        sequencer="0055AED6DCD90281E5",
    )
    run(bucket, "evented.txt")

    row = stack.reader.get(bucket, "evented.txt")

    assert row is not None
    assert row.event_name == "ObjectCreated:Put"
    assert row.event_time == datetime(2026, 11, 20, 10, 15, 30, 123000, tzinfo=UTC)
    assert row.sequencer == "0055AED6DCD90281E5"


def test_a_missing_object_is_marked_deleted_without_retrying(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="gone.txt", Body=b"soon gone")
    run(bucket, "gone.txt")
    stack.s3().delete_object(Bucket=bucket, Key="gone.txt")

    result = run(bucket, "gone.txt", event_name="ObjectRemoved:Delete")

    assert result.successful(), result.traceback
    assert result.result["outcome"] == "gone"
    row = stack.reader.get(bucket, "gone.txt")
    assert row is not None
    assert row.is_deleted is True
    assert row.deleted_at is not None
    assert row.size == len(b"soon gone")  # the last known state is kept
    assert outcomes(stack, bucket, "gone.txt") == [Outcome.SUCCEEDED, Outcome.GONE]


def listed(stack: Stack, bucket: str, *args: str) -> list[dict[str, object]]:
    """``s3meta list --bucket BUCKET --json ARGS``, parsed."""
    result = invoke(list_objects, "--bucket", bucket, "--json", *args, **stack.env)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_removal_event_for_a_key_never_indexed_and_not_in_s3_is_never_seen(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()

    result = run(bucket, "never-there.txt", event_name="ObjectRemoved:Delete")

    assert result.successful(), result.traceback
    row = stack.reader.get(bucket, "never-there.txt")
    assert row is not None
    assert (row.is_deleted, row.never_seen) == (True, True)
    assert row.deleted_by == "ObjectRemoved:Delete"  # what S3 said is kept
    assert listed(stack, bucket) == []
    assert stack.reader.history(bucket, "never-there.txt") == []


def test_a_requeue_typo_is_never_seen_hidden_from_list_and_stats_and_unknown_to_show(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="report.csv", Body=b"r")
    run(bucket, "report.csv")

    run(bucket, "reprot.csv")

    assert [row["key"] for row in listed(stack, bucket)] == ["report.csv"]
    phantoms = listed(stack, bucket, "--include-never-seen")
    assert [(row["key"], row["deleted"], row["never_seen"]) for row in phantoms] == [
        ("report.csv", False, False),
        ("reprot.csv", True, True),
    ]
    shown = invoke(show, f"s3://{bucket}/reprot.csv", "--json", **stack.env)
    assert shown.exit_code == 1
    assert shown.stdout == ""
    assert f"s3://{bucket}/reprot.csv was never seen in S3" in shown.stderr
    (counts,) = stack.reader.rows_per_bucket(bucket)
    assert (counts.live, counts.deleted, counts.never_seen) == (1, 0, 1)


def test_an_upload_of_a_key_once_never_seen_gives_a_normal_row(stack: Stack) -> None:
    bucket = stack.new_bucket()
    run(bucket, "early.txt")  # looked before the upload: within S3's one-second resolution
    stack.s3().put_object(Bucket=bucket, Key="early.txt", Body=b"here now")

    result = run(bucket, "early.txt", event_name="ObjectCreated:Put", event_time=s3_time())

    assert result.result["outcome"] == "succeeded"
    row = stack.reader.get(bucket, "early.txt")
    assert row is not None
    assert (row.is_deleted, row.never_seen, row.size) == (False, False, len(b"here now"))
    assert [entry.record_type for entry in stack.reader.history(bucket, "early.txt")] == ["CREATE"]
    assert [row["key"] for row in listed(stack, bucket)] == ["early.txt"]


def s3_time() -> str:
    """Now, as S3 writes an event's time."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_an_upload_found_gone_says_so_and_its_removal_event_then_names_itself(
    stack: Stack,
) -> None:
    # The demo's order: the upload's task runs only after the object was deleted.
    bucket = stack.new_bucket()
    put_time = s3_time()
    stack.s3().put_object(Bucket=bucket, Key="brief.txt", Body=b"brief")
    stack.s3().delete_object(Bucket=bucket, Key="brief.txt")
    delete_time = s3_time()

    found = run(bucket, "brief.txt", event_name="ObjectCreated:Put", event_time=put_time)

    assert found.result["outcome"] == "gone"
    gone = stack.reader.get(bucket, "brief.txt")
    assert gone is not None
    assert gone.is_deleted is True
    assert gone.deleted_by == "HeadObject:NotFound"
    assert gone.never_seen is False  # the upload's event shows it existed
    assert [row["key"] for row in listed(stack, bucket)] == ["brief.txt"]
    assert gone.deleted_at is not None
    assert gone.created_at <= gone.deleted_at <= gone.updated_at

    removed = run(bucket, "brief.txt", event_name="ObjectRemoved:Delete", event_time=delete_time)

    assert removed.result["outcome"] == "gone"
    row = stack.reader.get(bucket, "brief.txt")
    assert row is not None
    assert row.deleted_by == "ObjectRemoved:Delete"
    assert row.event_name == "ObjectRemoved:Delete"
    assert row.deleted_at == row.event_time == datetime.fromisoformat(delete_time)
    assert row.created_at <= datetime.fromisoformat(delete_time) <= row.updated_at


def test_a_throttled_head_is_retried_then_succeeds_with_every_attempt_recorded(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="busy.txt", Body=b"b")
    stack.faults.fail("HEAD", f"/{bucket}/busy.txt", Fault(503, "SlowDown", times=2))

    result = run(bucket, "busy.txt")

    assert result.successful(), result.traceback
    assert result.result["attempt"] == 3
    assert stack.faults.count("HEAD", f"/{bucket}/busy.txt") == 3
    attempts = stack.reader.attempts(bucket, "busy.txt")
    assert [a.outcome for a in attempts] == [Outcome.RETRYING, Outcome.RETRYING, Outcome.SUCCEEDED]
    assert [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].error_type == "StorageUnavailable"
    assert attempts[0].error is not None
    assert "503" in attempts[0].error
    assert len({a.task_id for a in attempts}) == 1
    assert all(a.finished_at >= a.started_at for a in attempts)
    row = stack.reader.get(bucket, "busy.txt")
    assert row is not None
    assert row.size == 1


def test_access_denied_fails_at_once_and_is_recorded(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="secret.txt", Body=b"s")
    stack.faults.fail("HEAD", f"/{bucket}/secret.txt", Fault(403, "AccessDenied"))

    result = run(bucket, "secret.txt")

    assert result.failed()
    # One attempt, no retry; within it S3Storage asks once more without checksums, which
    # SSE-KMS objects would otherwise need kms:Decrypt for.
    assert stack.faults.count("HEAD", f"/{bucket}/secret.txt") == 2
    attempts = stack.reader.attempts(bucket, "secret.txt")
    assert [a.outcome for a in attempts] == [Outcome.FAILED]
    assert attempts[0].error_type == "PermanentError"
    assert stack.reader.get(bucket, "secret.txt") is None


@pytest.mark.parametrize(
    "fault",
    [Fault(403, "AccessDenied"), Fault(400, "InvalidArgument")],
    ids=["access-denied", "invalid-argument"],
)
def test_a_permanent_s3_error_is_one_line_in_the_worker_log(stack: Stack, fault: Fault) -> None:
    bucket = stack.new_bucket()
    stack.faults.fail("HEAD", f"/{bucket}/denied.txt", fault)
    since = len(stack.worker.log())

    result = run(bucket, "denied.txt")

    assert result.failed()
    assert "PermanentError" in (result.traceback or "")
    lines, logged = worker_lines_about(stack, result.id, since)
    assert len(lines) == 1, lines
    assert "ERROR" in lines[0]
    assert f"s3://{bucket}/denied.txt" in lines[0]
    assert "Traceback" not in logged
    assert outcomes(stack, bucket, "denied.txt") == [Outcome.FAILED]


def test_a_key_that_keeps_failing_is_recorded_as_failed_after_the_last_retry(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="down.txt", Body=b"d")
    stack.faults.fail("HEAD", f"/{bucket}/down.txt", Fault(500, "InternalError"))

    result = run(bucket, "down.txt")

    assert result.failed()
    max_retries = int(stack.env["S3META_MAX_RETRIES"])
    assert stack.faults.count("HEAD", f"/{bucket}/down.txt") == max_retries + 1
    assert outcomes(stack, bucket, "down.txt") == [Outcome.RETRYING] * max_retries + [
        Outcome.FAILED
    ]


def test_celery_results_are_kept_in_the_same_database(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="result.txt", Body=b"r")

    result = run(bucket, "result.txt")

    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            status, name, queue = connection.execute(
                sa.text("SELECT status, name, queue FROM celery_taskmeta WHERE task_id = :id"),
                {"id": result.id},
            ).one()
    finally:
        engine.dispose()
    assert (status, name, queue) == (
        "SUCCESS",
        "s3meta.extract_metadata",
        stack.env["S3META_TASK_QUEUE"],
    )


def test_a_call_no_run_can_use_fails_at_once_with_an_attempt_row_and_one_line(
    stack: Stack,
) -> None:
    since = len(stack.worker.log())
    # send_task passes by the caller-side check, as an old client or another language would.
    result = app.send_task("s3meta.extract_metadata", args=(123, None))
    result.get(timeout=RESULT_TIMEOUT, propagate=False)

    assert result.failed()
    assert "InvalidTaskArguments" in (result.traceback or "")
    (attempt,) = stack.reader.attempts("123", "None")
    assert attempt.outcome == Outcome.FAILED
    assert attempt.error_type == "InvalidTaskArguments"
    assert "bucket must be a string, got int 123" in (attempt.error or "")
    assert "key must be a string, got NoneType None" in (attempt.error or "")
    lines, logged = worker_lines_about(stack, result.id, since)
    assert len(lines) == 1, lines
    assert "ERROR" in lines[0]
    assert "bucket must be a string" in lines[0]
    assert "Traceback" not in logged
    assert "IntegrityError" not in logged

    stats = invoke(stats_command, "--bucket", "123", "--no-peek", "--json")
    assert stats.exit_code == 0, stats.output
    assert '"failed": 1' in stats.stdout
    # No run could use it again: requeue --failed skips it, saying so, rather than offering it.
    failed = invoke(requeue_command, "--failed", "--bucket", "123", "--dry-run")
    assert failed.exit_code == 0, failed.output
    assert "s3://123/None" not in failed.stdout
    assert "skipped 1 unusable attempt" in failed.output


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((123, None), {}, "bucket must be a string"),
        (("Bad_Bucket!!", "k"), {}, "invalid bucket name 'Bad_Bucket!!'"),
        (("bucket-a", ""), {}, "key is empty"),
        (("bucket-a", "k" * 1025), {}, "key is 1025 bytes"),
        (("bucket-a", "k"), {"event_time": "yesterday"}, "unreadable event fields"),
        (("bucket-a",), {}, "key is missing"),
    ],
)
def test_delay_refuses_unusable_arguments_in_the_caller_and_sends_nothing(
    args: tuple[object, ...], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidTaskArguments, match=re.escape(message)):
        extract_metadata.delay(*args, **kwargs)


def test_a_key_with_control_characters_reaches_the_text_log_escaped(stack: Stack) -> None:
    bucket = stack.new_bucket()
    key = "evil\x1b[31mred\r\nforged line\u202e"
    since = len(stack.worker.log())

    result = run(bucket, key)

    assert result.successful(), result.traceback
    lines, logged = worker_lines_about(stack, result.id, since)
    assert lines
    assert any(f"s3://{bucket}/evil\\x1b[31mred\\r\\nforged line\\u202e" in line for line in lines)
    assert "\x1b" not in logged
    assert "\r" not in logged
    assert "\u202e" not in logged
    assert not any(line.startswith("forged line") for line in logged.splitlines())
