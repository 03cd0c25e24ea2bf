"""Duplicates, reordering, deletes and versions, on real workers, moto's server and MariaDB."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from celery.result import AsyncResult
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3meta.domain.attempts import Outcome
from s3meta.processes import WorkerProcess
from tasks import extract_metadata
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 60
_sequencers = itertools.count(0x0055AED6DCD9000000)


def next_sequencer() -> str:
    """Sequencers as S3 makes them for one key: growing hex strings."""
    return f"{next(_sequencers):018X}"


def event(name: str, sequencer: str, version_id: str | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_name": name,
        "event_time": datetime.now(UTC).isoformat(),
        "sequencer": sequencer,
    }
    if version_id:
        fields["version_id"] = version_id
    return fields


def run(bucket: str, key: str, **fields: Any) -> dict[str, Any]:
    result = extract_metadata.delay(bucket, key, **fields).get(timeout=RESULT_TIMEOUT)
    assert isinstance(result, dict)
    return result


def outcomes(stack: Stack, bucket: str, key: str) -> list[str]:
    return [attempt.outcome for attempt in stack.reader.attempts(bucket, key)]


def journal(stack: Stack, bucket: str, key: str) -> list[str]:
    return [entry.record_type for entry in stack.reader.history(bucket, key)]


def test_an_event_older_than_the_row_is_skipped_not_failed(stack: Stack) -> None:
    bucket = stack.new_bucket()
    s3 = stack.s3()
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    first = event("ObjectCreated:Put", next_sequencer())
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    second = event("ObjectCreated:Put", next_sequencer())

    assert run(bucket, "k", **second)["outcome"] == "succeeded"
    assert run(bucket, "k", **first)["outcome"] == "skipped"

    row = stack.reader.get(bucket, "k")
    assert row is not None
    assert (row.size, row.sequencer) == (len(b"second"), second["sequencer"])
    assert outcomes(stack, bucket, "k") == [Outcome.SUCCEEDED, Outcome.SKIPPED]
    assert journal(stack, bucket, "k") == ["CREATE"]


def test_a_versioned_key_ends_deleted_by_its_delete_marker_whatever_the_order(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    v1 = s3.put_object(Bucket=bucket, Key="doc", Body=b"v1")["VersionId"]
    put1 = event("ObjectCreated:Put", next_sequencer(), v1)
    v2 = s3.put_object(Bucket=bucket, Key="doc", Body=b"v2-longer")["VersionId"]
    put2 = event("ObjectCreated:Put", next_sequencer(), v2)
    marker = s3.delete_object(Bucket=bucket, Key="doc")
    assert marker.get("DeleteMarker") is True
    removal = event("ObjectRemoved:DeleteMarkerCreated", next_sequencer(), marker["VersionId"])

    for fields in (put1, removal, put2):
        run(bucket, "doc", **fields)

    row = stack.reader.get(bucket, "doc")
    assert row is not None
    assert row.is_deleted is True
    assert row.deleted_by == "ObjectRemoved:DeleteMarkerCreated"
    assert row.sequencer == removal["sequencer"]
    # put1's task looks at v1 itself, which stands under the marker: recorded (succeeded).
    assert outcomes(stack, bucket, "doc") == [Outcome.SUCCEEDED, Outcome.GONE, Outcome.SKIPPED]


def test_the_row_tracks_the_current_version_of_a_versioned_key(stack: Stack) -> None:
    bucket = stack.new_bucket(versioned=True)
    s3 = stack.s3()
    s3.put_object(Bucket=bucket, Key="doc", Body=b"v1")
    run(bucket, "doc", **event("ObjectCreated:Put", next_sequencer()))
    v2 = s3.put_object(Bucket=bucket, Key="doc", Body=b"v2")["VersionId"]
    run(bucket, "doc", **event("ObjectCreated:Put", next_sequencer(), v2))

    row = stack.reader.get(bucket, "doc")

    assert row is not None
    assert row.version_id == v2
    assert journal(stack, bucket, "doc") == ["CREATE", "CREATE"]


def test_an_object_deleted_before_its_create_event_is_handled_is_recorded_gone(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="brief.txt", Body=b"b")
    created = event("ObjectCreated:Put", next_sequencer())
    stack.s3().delete_object(Bucket=bucket, Key="brief.txt")

    result = run(bucket, "brief.txt", **created)

    assert result["outcome"] == "gone"
    assert outcomes(stack, bucket, "brief.txt") == [Outcome.GONE]  # no retry, no failure
    row = stack.reader.get(bucket, "brief.txt")
    assert row is not None
    assert row.is_deleted is True


def test_a_re_upload_after_a_delete_revives_the_row_and_the_journal_tells_it_all(
    stack: Stack,
) -> None:
    bucket = stack.new_bucket()
    s3 = stack.s3()
    s3.put_object(Bucket=bucket, Key="phoenix", Body=b"first")
    run(bucket, "phoenix", **event("ObjectCreated:Put", next_sequencer()))
    s3.delete_object(Bucket=bucket, Key="phoenix")
    run(bucket, "phoenix", **event("ObjectRemoved:Delete", next_sequencer()))
    s3.put_object(Bucket=bucket, Key="phoenix", Body=b"second life")
    run(bucket, "phoenix", **event("ObjectCreated:Put", next_sequencer()))
    s3.put_object(Bucket=bucket, Key="phoenix", Body=b"second life", Metadata={"a": "1"})
    run(bucket, "phoenix", **event("ObjectCreated:Put", next_sequencer()))

    row = stack.reader.get(bucket, "phoenix")

    assert row is not None
    assert (row.is_deleted, row.size, row.deleted_at) == (False, len(b"second life"), None)
    assert row.user_metadata == {"a": "1"}
    # The last upload has the same content (same ETag): only its metadata changed.
    assert journal(stack, bucket, "phoenix") == ["CREATE", "DELETE", "CREATE", "UPDATE_METADATA"]


# Several real workers, shuffled and duplicated events, S3 changing underneath ------------


@pytest.fixture(scope="module")
def racing_queue(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two more workers (prefork and threads) on a queue of their own.

    Their own queue, because a worker that stops leaves its last long poll open for up to
    20 s, and a message that poll takes stays hidden for the visibility timeout.
    """
    queue = f"s3meta-racing-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "S3META_TASK_QUEUE": queue}
    logs = tmp_path_factory.mktemp("racing-workers")
    workers = [
        WorkerProcess(env, logs / "prefork.log", pool="prefork", concurrency=2, name="race-a"),
        WorkerProcess(env, logs / "threads.log", pool="threads", concurrency=4, name="race-b"),
    ]
    yield queue
    for worker in workers:
        worker.stop()


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "put", "delete"]), st.integers(0, 2), st.integers(0, 3)),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=OPERATIONS, seed=st.integers(0, 2**32 - 1))
def test_whatever_the_interleaving_the_table_ends_equal_to_s3(
    stack: Stack, racing_queue: str, operations: list[tuple[str, int, int]], seed: int
) -> None:
    shuffle = random.Random(seed)
    bucket = stack.new_bucket()
    s3 = stack.s3()
    for number in range(3):
        # Some tasks read S3 early and write late, over what quicker tasks read since:
        # the window in which only the ordering rule keeps the table right.
        stack.faults.slow_down(
            "HEAD", f"/{bucket}/key-{number}", 1.0, times=shuffle.randint(1, 3), response=True
        )
    results: list[AsyncResult] = []
    for operation, key_number, payload in operations:
        key = f"key-{key_number}"
        if operation == "put":
            body = f"{key} body {payload} {uuid.uuid4().hex[: payload * 3]}".encode()
            s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={"p": str(payload)})
            name = "ObjectCreated:Put"
        else:
            s3.delete_object(Bucket=bucket, Key=key)
            name = "ObjectRemoved:Delete"
        fields = event(name, next_sequencer())
        # At-least-once and out of order: each event once or twice, each copy delayed.
        for _copy in range(shuffle.choice([1, 1, 2])):
            countdown = shuffle.choice([0, 0, 0.3, 0.8, 1.5])
            results.append(extract_metadata.apply_async((bucket, key), fields, countdown=countdown))

    for result in results:
        result.get(timeout=RESULT_TIMEOUT)

    for key in {f"key-{number}" for _op, number, _payload in operations}:
        row = stack.reader.get(bucket, key)
        assert row is not None, key
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            assert row.is_deleted is True, key
            continue
        assert row.is_deleted is False, key
        assert (row.etag, row.size) == (head["ETag"].strip('"'), head["ContentLength"]), key
        assert row.user_metadata == head["Metadata"], key


def test_tags_come_with_the_create_event_and_a_tagging_event_updates_them(stack: Stack) -> None:
    bucket = stack.new_bucket()
    s3 = stack.s3()
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="team=data&tier=gold")
    run(bucket, "tagged", **event("ObjectCreated:Put", next_sequencer()))
    first = stack.reader.get(bucket, "tagged")
    assert first is not None
    assert first.tags == {"team": "data", "tier": "gold"}

    s3.put_object_tagging(
        Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]}
    )
    run(bucket, "tagged", **event("ObjectTagging:Put", next_sequencer()))
    run(bucket, "tagged", **event("ObjectCreated:Copy", next_sequencer()))

    row = stack.reader.get(bucket, "tagged")
    assert row is not None
    assert row.tags == {"team": "ops"}
    assert journal(stack, bucket, "tagged") == ["CREATE", "UPDATE_METADATA"]
