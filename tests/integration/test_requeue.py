"""``s3meta requeue`` against moto's server and MariaDB, with the real worker running the tasks."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from celery.result import AsyncResult
from click.testing import Result

from db.engine import create_engine
from db.models import utcnow
from db.store import MetadataStore
from s3meta.aws.sqs import Attribute, DeadLetters, Queue, QueueMessage
from s3meta.bridge import Bridge, BridgeOptions
from s3meta.cli import requeue as requeue_command
from s3meta.cli.dead_letters import dead_letters
from s3meta.cli.requeue import requeue
from s3meta.config import get_settings
from s3meta.domain.attempts import Attempt, Outcome
from s3meta.errors import PublishError
from s3meta.processes import wait_for
from tasks import extract_metadata
from tasks.publisher import CeleryPublisher
from tests.support.cli import invoke as cli_invoke
from tests.support.cli import json_report as report
from tests.support.faults import Fault
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_requeue(*args: str, **env: str) -> Result:
    """``s3meta requeue ARGS`` in this process, with ``env`` on top of the stack's."""
    return cli_invoke(requeue, *args, **env)


def run(bucket: str, key: str) -> AsyncResult:
    result = extract_metadata.delay(bucket, key)
    result.get(timeout=RESULT_TIMEOUT, propagate=False)
    return result


def outcomes(stack: Stack, bucket: str, key: str) -> list[str]:
    return [attempt.outcome for attempt in stack.reader.attempts(bucket, key)]


def last_outcome_is(stack: Stack, bucket: str, key: str, outcome: Outcome) -> bool:
    return outcomes(stack, bucket, key)[-1:] == [outcome]


def record_failure(stack: Stack, bucket: str, key: str, finished_at: datetime) -> None:
    """A failed attempt, recorded directly at a chosen time."""
    stack.store.record_attempt(
        Attempt(
            task_id=f"t-{key}",
            bucket=bucket,
            key=key,
            attempt=1,
            outcome=Outcome.FAILED,
            started_at=finished_at,
            finished_at=finished_at,
            error_type="PermanentError",
            error="denied",
        )
    )


def deny_head(stack: Stack, bucket: str, key: str, *, active: bool = True) -> None:
    """Make HeadObject of the key answer 403 (permanent: the task fails at once), or stop."""
    fault = Fault(403, "AccessDenied") if active else Fault(403, "AccessDenied", times=0)
    stack.faults.fail("HEAD", f"/{bucket}/{key}", fault)


def test_failed_keys_are_requeued_and_succeed_once_the_cause_is_fixed(stack: Stack) -> None:
    bucket = stack.new_bucket()
    broken = ["a/broken.txt", "b/broken two.txt"]
    healed, fine = "healed.txt", "fine.txt"
    for key in [*broken, healed, fine]:
        stack.s3().put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in [*broken, healed]:
        deny_head(stack, bucket, key)
        assert run(bucket, key).failed()
    deny_head(stack, bucket, healed, active=False)
    assert run(bucket, healed).successful()  # failed, then succeeded: nothing to requeue
    assert run(bucket, fine).successful()
    for key in broken:
        deny_head(stack, bucket, key, active=False)
        assert outcomes(stack, bucket, key) == [Outcome.FAILED]

    dry = run_requeue("--failed", "--bucket", bucket, "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [f"s3://{bucket}/{key}" for key in broken]
    assert "would queue 2 tasks" in dry.stderr

    result = report(run_requeue("--failed", "--bucket", bucket, "--json"))

    assert result == {
        "source": "failed",
        "dry_run": False,
        "bucket": bucket,
        "since": None,
        "matched": 2,
        "queued": 2,
        "skipped": 0,
        "skipped_examples": [],
    }
    for key in broken:
        wait_for(
            functools.partial(last_outcome_is, stack, bucket, key, Outcome.SUCCEEDED),
            RESULT_TIMEOUT,
            f"s3://{bucket}/{key} to be requeued",
        )
        row = stack.reader.get(bucket, key)
        assert row is not None
        assert row.size == len(key.encode())
        assert row.event_name is None  # a manual requeue carries no event
    # The dry run published nothing: each broken key ran exactly twice.
    for key in broken:
        assert outcomes(stack, bucket, key) == [Outcome.FAILED, Outcome.SUCCEEDED]
    assert outcomes(stack, bucket, healed) == [Outcome.FAILED, Outcome.SUCCEEDED]
    assert outcomes(stack, bucket, fine) == [Outcome.SUCCEEDED]
    # Nothing of this bucket is left failing.
    again = report(run_requeue("--failed", "--bucket", bucket, "--json", "--dry-run"))
    assert again["matched"] == 0


def test_since_and_limit_choose_among_failed_keys(stack: Stack) -> None:
    bucket = stack.new_bucket()
    now = utcnow()
    # Failures recorded directly, at chosen times (no need for S3: this is a dry run).
    for key, finished_at in [
        ("old.txt", now - timedelta(days=3)),
        ("recent-1.txt", now - timedelta(minutes=20)),
        ("recent-2.txt", now - timedelta(minutes=10)),
        ("recent-3.txt", now - timedelta(minutes=5)),
    ]:
        record_failure(stack, bucket, key, finished_at)

    def listed(*args: str) -> list[str]:
        result = run_requeue("--failed", "--bucket", bucket, "--dry-run", *args)
        assert result.exit_code == 0, result.output
        return [line.rsplit("/", 1)[1] for line in result.stdout.splitlines()]

    assert listed() == ["old.txt", "recent-1.txt", "recent-2.txt", "recent-3.txt"]
    assert listed("--since", "1h") == ["recent-1.txt", "recent-2.txt", "recent-3.txt"]
    assert listed("--since", "15m") == ["recent-2.txt", "recent-3.txt"]
    since = (now - timedelta(days=4)).astimezone(UTC).isoformat()
    assert listed("--since", since) == ["old.txt", "recent-1.txt", "recent-2.txt", "recent-3.txt"]
    assert listed("--limit", "2") == ["old.txt", "recent-1.txt"]


def test_a_publish_failure_midway_says_how_far_it_got(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = stack.new_bucket()
    for key in ("a.txt", "b.txt", "c.txt"):
        record_failure(stack, bucket, key, utcnow())
    published: list[tuple[str, str]] = []

    class FirstOnly:
        """Accepts one task, then refuses."""

        def requeue(self, bucket: str, key: str) -> str:
            if published:
                raise PublishError(f"could not publish the task for s3://{bucket}/{key}: refused")
            published.append((bucket, key))
            return "task-id"

    monkeypatch.setattr(requeue_command, "_publisher", FirstOnly)

    result = run_requeue("--failed", "--bucket", bucket)

    assert result.exit_code == 1
    assert published == [(bucket, "a.txt")]
    assert result.stderr.strip() == (
        f"Error: could not publish the task for s3://{bucket}/b.txt: refused "
        f"(after queueing 1 task, the last for s3://{bucket}/a.txt; "
        "running the command again is safe)"
    )


# What a refused call records (tasks.extract._refuse): reprs where it was given no bucket or key.
REFUSED = (
    "extract_metadata: bucket must be a string, got int 123; key must be a string, got "
    "NoneType None"
)


def record_unusable_attempts(store: MetadataStore, bucket: str) -> None:
    """Failed attempts no task can repeat, around one that can (``bucket``/``healed.txt``)."""
    now = utcnow()
    store.record_attempt(
        Attempt(
            "t-refused", "123", "None", 1, Outcome.FAILED, now, now, "InvalidTaskArguments", REFUSED
        )
    )
    # As recorded before the bridge dead-lettered bucket names S3 does not allow.
    store.record_attempt(
        Attempt("t-bad", "Bad_Bucket!!", "k", 1, Outcome.FAILED, now, now, "PermanentError", "x")
    )
    store.record_attempt(
        Attempt(
            "t-healed",
            bucket,
            "healed.txt",
            1,
            Outcome.FAILED,
            now,
            now,
            "PermanentError",
            "denied",
        )
    )


SKIPPED_LINE = (
    "s3meta: skipped 2 unusable attempts: s3://123/None (refused call: " + REFUSED + "); "
    "s3://Bad_Bucket!!/k (invalid bucket name 'Bad_Bucket!!': a bucket name is 3-63 lowercase "
    "letters, digits, '.' or '-', and starts and ends with a letter or digit)"
)


def test_requeue_failed_skips_unusable_attempts_in_one_counted_line(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        record_unusable_attempts(MetadataStore(engine), "bucket-a")
    finally:
        engine.dispose()

    dry = run_requeue("--failed", "--dry-run", S3META_DATABASE_URL=database_url)
    as_json = report(
        run_requeue("--failed", "--dry-run", "--json", S3META_DATABASE_URL=database_url)
    )

    assert dry.exit_code == 0, dry.output
    assert dry.stdout == "s3://bucket-a/healed.txt\n"
    assert dry.stderr.splitlines() == [
        "s3meta: would queue 1 task for keys whose last attempt failed",
        SKIPPED_LINE,
    ]
    assert (as_json["matched"], as_json["skipped"]) == (1, 2)
    assert [example["uri"] for example in as_json["skipped_examples"]] == [
        "s3://123/None",
        "s3://Bad_Bucket!!/k",
    ]


def test_requeue_failed_runs_the_usable_keys_and_never_the_unusable_ones(
    stack: Stack, mysql_url: str
) -> None:
    """The keys come from a database of their own; the session's worker runs the tasks."""
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="healed.txt", Body=b"healed")
    engine = create_engine(mysql_url)
    try:
        record_unusable_attempts(MetadataStore(engine), bucket)
    finally:
        engine.dispose()
    # The session's database may hold attempts of other tests' refused calls for these.
    unusable = [("123", "None"), ("Bad_Bucket!!", "k")]
    before = {call: len(stack.reader.attempts(*call)) for call in unusable}

    result = run_requeue("--failed", S3META_DATABASE_URL=mysql_url)

    assert result.exit_code == 0, result.output
    assert result.stdout == "s3meta: queued 1 task for keys whose last attempt failed\n"
    assert result.stderr.splitlines() == [SKIPPED_LINE]
    wait_for(
        functools.partial(last_outcome_is, stack, bucket, "healed.txt", Outcome.SUCCEEDED),
        RESULT_TIMEOUT,
        "the usable key to be requeued",
    )
    assert {call: len(stack.reader.attempts(*call)) for call in unusable} == before


@pytest.mark.parametrize("page_size", [1, 2, 500])
def test_failed_keys_are_paged_in_byte_order_on_mysql(stack: Stack, page_size: int) -> None:
    bucket = stack.new_bucket()
    keys = ["a", "a b", "a/b", "B", "b ", "ä", "日本"]
    for key in reversed(keys):
        record_failure(stack, bucket, key, utcnow())
    record_failure(stack, bucket, "healed", utcnow())
    stack.store.record_attempt(
        Attempt("t-healed-2", bucket, "healed", 2, Outcome.SUCCEEDED, utcnow(), utcnow())
    )
    found = [
        failed.key for failed in stack.reader.iter_failed_keys(bucket=bucket, page_size=page_size)
    ]

    assert found == sorted(keys, key=str.encode)


def test_explicit_uris_are_requeued_and_their_task_ids_reported(stack: Stack) -> None:
    bucket = stack.new_bucket()
    keys = ["one.txt", "dir/two with space.txt"]
    for key in keys:
        stack.s3().put_object(Bucket=bucket, Key=key, Body=b"12345")

    result = report(run_requeue(*[f"s3://{bucket}/{key}" for key in keys], "--json"))

    assert result["source"] == "uris"
    assert result["queued"] == 2
    assert len(set(result["task_ids"])) == 2
    for task_id in result["task_ids"]:
        task = AsyncResult(task_id)
        task.get(timeout=RESULT_TIMEOUT, propagate=False)
        assert task.successful(), task.traceback
    for key in keys:
        row = stack.reader.get(bucket, key)
        assert row is not None
        assert row.size == 5
        assert outcomes(stack, bucket, key) == [Outcome.SUCCEEDED]


def test_plain_output_says_how_many_were_queued(stack: Stack) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="k", Body=b"k")

    result = run_requeue(f"s3://{bucket}/k")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "s3meta: queued 1 task"
    wait_for(lambda: stack.reader.get(bucket, "k") is not None, RESULT_TIMEOUT, "the row")


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["s3://no-such-bucket-s3meta/key"], 1, "s3://no-such-bucket-s3meta: no such bucket"),
        (["http://bucket/key"], 2, "not an S3 URI"),
        (["s3://bucket-only"], 2, "no key"),
        ([], 2, "exactly one of them"),
        (["--failed", "--dead-letters"], 2, "cannot be combined"),
        (["--dead-letters", "--since", "1h"], 2, "--since and --bucket go with --failed"),
        (["--failed", "--since", "yesterday"], 2, "not a time"),
        (["--failed", "--bucket", "Not_A_Bucket"], 2, "invalid bucket name"),
    ],
)
def test_bad_arguments_end_with_one_clear_line(
    stack: Stack, args: list[str], exit_code: int, message: str
) -> None:
    result = run_requeue(*args)

    assert result.exit_code == exit_code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def send_dead_letters(stack: Stack, queue: str, bodies: list[str]) -> None:
    """Dead-letter ``bodies`` as the bridge does: original body, reason attributes."""
    letters = DeadLetters(Queue(stack.sqs(), queue))
    for index, body in enumerate(bodies):
        message = QueueMessage(f"original-{index}", "receipt", body, receive_count=1)
        letters.send(message, f"unusable body number {index}", "s3meta-events")


def receive_all(stack: Stack, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message on ``queue`` (body and message attributes), deleted as read."""
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queue)["QueueUrl"]
    found: list[tuple[str, dict[str, Any]]] = []
    for _ in range(50):
        messages = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            found.append((message["Body"], dict(message.get("MessageAttributes", {}))))
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def total(stack: Stack, queue: str) -> int:
    return Queue(stack.sqs(), queue).depth().total


@pytest.fixture
def dead_letter_env(stack: Stack) -> dict[str, str]:
    return {
        "S3META_EVENTS_QUEUE": stack.new_queue("events"),
        "S3META_DEAD_LETTER_QUEUE": stack.new_queue("events-dlq"),
    }


def test_dead_letters_move_back_to_the_events_queue_with_identical_bodies(
    stack: Stack, dead_letter_env: dict[str, str]
) -> None:
    events, dlq = (
        dead_letter_env["S3META_EVENTS_QUEUE"],
        dead_letter_env["S3META_DEAD_LETTER_QUEUE"],
    )
    # More than one receive batch; bodies as odd as event bodies get.
    bodies = [json.dumps({"Records": [{"n": n, "key": f"ünï {n}%2B"}]}) for n in range(23)]
    bodies.append("not json at all \u2603")
    send_dead_letters(stack, dlq, bodies)

    dry = report(run_requeue("--dead-letters", "--dry-run", "--json", **dead_letter_env))

    assert dry["would_move"] == len(bodies)
    assert dry["sample"]
    assert all(entry["reason"].startswith("unusable body") for entry in dry["sample"])
    assert total(stack, dlq) == len(bodies)
    assert total(stack, events) == 0

    limited = report(run_requeue("--dead-letters", "--limit", "5", "--json", **dead_letter_env))

    assert limited["moved"] == 5
    assert limited["stopped"] == "limit"
    assert total(stack, events) == 5

    rest = report(run_requeue("--dead-letters", "--json", **dead_letter_env))

    assert rest["moved"] == len(bodies) - 5
    assert rest["stopped"] == "empty"
    assert rest["not_deleted"] == 0
    assert total(stack, dlq) == 0
    moved = receive_all(stack, events)
    assert sorted(body for body, _ in moved) == sorted(bodies)
    # The dead-lettering's attributes stay behind: the bridge sees the event as S3 sent it.
    assert all(attributes == {} for _, attributes in moved)


def test_moving_dead_letters_to_a_missing_events_queue_loses_nothing(
    stack: Stack, dead_letter_env: dict[str, str]
) -> None:
    dlq = dead_letter_env["S3META_DEAD_LETTER_QUEUE"]
    send_dead_letters(stack, dlq, ["one", "two", "three"])

    result = run_requeue(
        "--dead-letters", **{**dead_letter_env, "S3META_EVENTS_QUEUE": "s3meta-no-such-events"}
    )

    assert result.exit_code == 1
    assert "s3meta-no-such-events" in result.stderr
    assert "no such queue" in result.stderr
    assert "Traceback" not in result.output
    assert sorted(body for body, _ in receive_all(stack, dlq)) == ["one", "three", "two"]


def test_dead_letters_that_come_back_stop_the_move(
    stack: Stack, dead_letter_env: dict[str, str]
) -> None:
    """A cause that is not fixed: what is moved is dead-lettered again at once."""
    from s3meta.operations.dead_letters import move_dead_letters

    client = stack.sqs()
    events = Queue(client, dead_letter_env["S3META_EVENTS_QUEUE"])
    dlq = Queue(client, dead_letter_env["S3META_DEAD_LETTER_QUEUE"])
    send_dead_letters(stack, dlq.name, ["bad body"])

    class Redeadlettering(Queue):
        """The events queue with a bridge behind it that rejects everything at once."""

        def send(self, body: str, attributes: Mapping[str, Attribute] | None = None) -> str:
            message_id = super().send(body, attributes)
            message = QueueMessage(message_id, "receipt", body, receive_count=1)
            DeadLetters(dlq).send(message, "still unusable", events.name)
            return message_id

    moved = move_dead_letters(
        dlq, Redeadlettering(client, events.name), limit=None, visibility_timeout=30
    )

    assert moved.moved == 1
    assert moved.came_back == 1
    assert moved.stopped == "came-back"
    # The returned message was released, not hidden: it is there for the next attempt.
    assert [body for body, _ in receive_all(stack, dlq.name)] == ["bad body"]


# An event S3 could never send: the bridge dead-letters it.
BAD_BUCKET_EVENT = json.dumps(
    {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "Bad_Bucket!!"}, "object": {"key": "k"}},
            }
        ]
    }
)
# Message attributes of every data type: as boto3 sends and receives them, and as JSON.
ATTRIBUTE_KINDS: list[tuple[MessageAttributeValueTypeDef, dict[str, str]]] = [
    ({"DataType": "String", "StringValue": "ünï"}, {"DataType": "String", "StringValue": "ünï"}),
    ({"DataType": "Number", "StringValue": "42"}, {"DataType": "Number", "StringValue": "42"}),
    (
        {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        {"DataType": "Binary", "BinaryValue": "AP8="},
    ),
    (
        {"DataType": "String.id", "StringValue": "a-1"},
        {"DataType": "String.id", "StringValue": "a-1"},
    ),
]


@pytest.mark.parametrize("count", [3, 8])  # 8: more than fit beside s3meta's own four
def test_a_message_the_bridge_dead_letters_keeps_its_attributes_there_and_when_moved_back(
    stack: Stack, dead_letter_env: dict[str, str], count: int
) -> None:
    client = stack.sqs()
    events = Queue(client, dead_letter_env["S3META_EVENTS_QUEUE"])
    dlq = Queue(client, dead_letter_env["S3META_DEAD_LETTER_QUEUE"])
    kinds = [ATTRIBUTE_KINDS[n % len(ATTRIBUTE_KINDS)] for n in range(count)]
    attributes = {f"attribute-{n}": sent for n, (sent, _) in enumerate(kinds)}
    client.send_message(
        QueueUrl=events.url, MessageBody=BAD_BUCKET_EVENT, MessageAttributes=attributes
    )
    bridge = Bridge(
        events,
        DeadLetters(dlq),
        CeleryPublisher(),
        BridgeOptions(wait_seconds=1, visibility_timeout=30, drain=True),
    )

    assert bridge.run().dead_lettered == 1

    listing = cli_invoke(dead_letters, "list", "--json", **dead_letter_env)
    (shown,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert "invalid bucket name 'Bad_Bucket!!'" in shown["reason"]
    assert shown["source_queue"] == events.name
    assert shown["body"] == BAD_BUCKET_EVENT
    assert shown["attributes"] == {
        f"attribute-{n}": as_json for n, (_, as_json) in enumerate(kinds)
    }

    moved = report(run_requeue("--dead-letters", "--json", **dead_letter_env))

    assert moved["moved"] == 1
    ((moved_body, moved_attributes),) = receive_all(stack, events.name)
    assert moved_body == BAD_BUCKET_EVENT
    assert moved_attributes == attributes
