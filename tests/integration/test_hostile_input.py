"""Hostile input at volume: thousands of fuzzed event bodies, mixed with valid ones, through
a real bridge on moto's SQS and a real worker on MariaDB.

The bridge must never stop; every unusable body is dead-lettered with a reason, every valid
key is indexed, and nothing is left on the events queue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3meta.aws.sqs import DeadLetters, Queue
from s3meta.bridge import Bridge, BridgeOptions, BridgeStats
from s3meta.domain.events import parse_body
from tasks.publisher import CeleryPublisher
from tests.integration.test_bridge import Queues, dead_letters, queue_total, wait_for_tasks
from tests.support import keys
from tests.support.samples import SAMPLE_EVENTS
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

VALID_KEYS = 120
FUZZED = 800  # hypothesis-generated bodies, and as many mutated from the samples
CHUNK = 100  # messages queued at a time: moto's SQS costs O(depth) per receive
# SQS's largest message is 256 KiB, body and attributes together: a body that fills it
# leaves no room for the reason a dead letter carries.
SQS_MESSAGE_LIMIT = 262_144
SEED = 20261202


@pytest.fixture
def queues(stack: Stack) -> Queues:
    return Queues(stack.new_queue("events"), stack.new_queue("events-dlq"))


def awkward_key(n: int) -> str:
    return keys.awkward_key(n, "hostile")


def s3_record(
    bucket: str, key: str, name: str = "ObjectCreated:Put", **extra: Any
) -> dict[str, Any]:
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-12-02T10:00:00.000Z",
        "eventName": name,
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key), "size": 1, **extra},
        },
    }


def s3_body(*records: dict[str, Any]) -> str:
    return json.dumps({"Records": list(records)})


def sns_body(inner: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "c0ffee00-0000-4000-8000-000000000000",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
            "Message": inner,
        }
    )


def eventbridge_body(bucket: str, key: str) -> str:
    return json.dumps(
        {
            "version": "0",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "time": "2026-12-02T10:00:00Z",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}},
        }
    )


def hostile_bodies(bucket: str) -> Iterator[str]:
    """Bodies no run can use, one of each kind the issue names, several times over."""
    record = s3_record(bucket, "k")
    for n in range(20):
        yield "{" * (n + 1)  # not JSON
        yield "[" * 5000 + "]" * 5000  # nested too deeply
        # Unusable, and as large as SQS takes: its dead letter must still fit.
        yield json.dumps({"Records": [], "pad": "x" * (SQS_MESSAGE_LIMIT - 400 - n)})
        yield json.dumps({"Records": "not a list"})
        yield json.dumps({"Records": [{**record, "s3": {"bucket": {"name": 7}, "object": {}}}]})
        yield s3_body({**record, "eventVersion": f"{3 + n}.0"})
        bad_utf8 = copy.deepcopy(record)
        bad_utf8["s3"]["object"]["key"] = f"%FF%FE{n}"
        yield s3_body(bad_utf8)
        too_long = copy.deepcopy(record)
        too_long["s3"]["object"]["key"] = quote_plus("k" * (1025 + n))
        yield s3_body(too_long)
        yield sns_body("[" * 5000)
        yield json.dumps(None)
        yield s3_body(
            {**record, "s3": {"bucket": {"name": "Not_A_Bucket!"}, "object": {"key": "k"}}}
        )


def mutations(sample: dict[str, Any], rng: random.Random) -> Iterator[str]:
    """``sample`` with one field at a time replaced, removed or retyped."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            for name, value in node.items():
                paths.append((*path, name))
                walk(value, (*path, name))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                paths.append((*path, index))
                walk(value, (*path, index))

    walk(sample, ())
    replacements: list[Any] = [None, 0, -1, 1e308, "", "\ud800", [], {}, "x" * 3000, True, "%FF"]
    for path in rng.sample(paths, min(len(paths), 40)):
        mutated = copy.deepcopy(sample)
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        if rng.random() < 0.2 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = rng.choice(replacements)
        yield json.dumps(mutated)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
RECORDISH = st.fixed_dictionaries(
    {
        "Records": st.lists(
            st.dictionaries(st.sampled_from(["eventVersion", "eventName", "s3", "x"]), JSON),
            max_size=3,
        )
    }
)


def fuzzed_bodies(count: int) -> list[str]:
    """``count`` bodies hypothesis makes: arbitrary JSON, record-like JSON and raw text."""
    found: list[str] = []
    strategy = st.one_of(
        JSON.map(json.dumps), RECORDISH.map(json.dumps), st.text(max_size=200).filter(bool)
    )

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(body: str) -> None:
        found.append(body)

    collect()
    return found[:count]


@dataclass
class Sent:
    valid: list[str] = field(default_factory=list)
    hostile: list[str] = field(default_factory=list)
    fuzzed: list[str] = field(default_factory=list)

    def all(self, rng: random.Random) -> list[str]:
        mixed = [*self.valid, *self.hostile, *self.fuzzed]
        rng.shuffle(mixed)
        return mixed


def digest(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def run_in_chunks(stack: Stack, queues: Queues, bodies: list[str]) -> BridgeStats:
    """Queue ``CHUNK`` bodies at a time and drain them through one bridge's code."""
    client = stack.sqs()
    url = client.get_queue_url(QueueName=queues.events)["QueueUrl"]
    publisher = CeleryPublisher()
    total = BridgeStats()
    try:
        for start in range(0, len(bodies), CHUNK):
            chunk = bodies[start : start + CHUNK]
            for first in range(0, len(chunk), 10):
                entries = [
                    {"Id": str(n), "MessageBody": body}
                    for n, body in enumerate(chunk[first : first + 10])
                ]
                answer = client.send_message_batch(QueueUrl=url, Entries=entries)  # type: ignore[arg-type]
                assert not answer.get("Failed"), answer.get("Failed")
            bridge = Bridge(
                Queue(client, queues.events),
                DeadLetters(Queue(client, queues.dead_letters)),
                publisher,
                BridgeOptions(
                    wait_seconds=1, visibility_timeout=60, drain=True, keep_task_ids=True
                ),
            )
            total.add(bridge.run())
    finally:
        publisher.close()
    return total


@pytest.mark.timeout(420)
def test_thousands_of_hostile_bodies_never_stop_the_bridge_and_lose_nothing(
    stack: Stack, queues: Queues
) -> None:
    rng = random.Random(SEED)
    bucket = stack.new_bucket()
    s3 = stack.s3()
    keys = [awkward_key(n) for n in range(VALID_KEYS)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    sent = Sent()
    for n in range(0, VALID_KEYS, 3):
        first, second, third = keys[n], keys[n + 1], keys[n + 2]
        sent.valid.append(s3_body(s3_record(bucket, first), s3_record(bucket, second)))
        sent.valid.append(sns_body(s3_body(s3_record(bucket, second))))
        sent.valid.append(eventbridge_body(bucket, third))
        sent.valid.append(s3_body(s3_record(bucket, third)))  # a duplicate of another path
    sent.hostile = list(hostile_bodies(bucket))
    samples = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SAMPLE_EVENTS.glob("*.json"))
        if not path.name.startswith("bad-")
    ]
    mutated = [body for sample in samples for body in mutations(sample, rng)]
    sent.fuzzed = fuzzed_bodies(FUZZED) + rng.sample(mutated, min(len(mutated), FUZZED))
    bodies = sent.all(rng)
    # What the bridge should make of each fuzzed body is its parser's call; the test checks
    # that every message is accounted for and that the bodies known to be bad all go.
    unusable = {digest(body) for body in bodies if parse_body(body).rejected}

    began = time.monotonic()
    stats = run_in_chunks(stack, queues, bodies)
    bridged = time.monotonic()
    wait_for_tasks(stats.task_ids)
    indexed = time.monotonic()

    letters = dead_letters_all(stack, queues.dead_letters)
    lettered = [digest(body) for body, _ in letters]
    print(
        f"\nhostile input: {len(bodies)} messages ({len(sent.valid)} valid, "
        f"{len(sent.hostile)} hostile, {len(sent.fuzzed)} fuzzed), {stats.summary()}; "
        f"bridged in {bridged - began:.0f} s, indexed {indexed - bridged:.0f} s later"
    )
    assert stats.received == len(bodies)
    assert stats.deleted == len(bodies)
    assert stats.kept_for_redelivery == 0
    assert queue_total(stack, queues.events) == 0
    assert set(lettered) == unusable
    assert len(lettered) == sum(1 for body in bodies if digest(body) in unusable)
    assert {digest(body) for body in sent.hostile} <= set(lettered)
    assert not {digest(body) for body in sent.valid} & set(lettered)
    for _body, attributes in letters:
        assert attributes["s3meta-reason"].strip()
        assert "\n" not in attributes["s3meta-reason"]
    for key in keys:
        row = stack.reader.get(bucket, key)
        assert row is not None, f"s3://{bucket}/{key} was not indexed"
        assert row.is_deleted is False


def dead_letters_all(stack: Stack, queue: str) -> list[tuple[str, dict[str, str]]]:
    """Every dead letter on ``queue``, however many: ``dead_letters`` reads 200 at most."""
    found: list[tuple[str, dict[str, str]]] = []
    for _ in range(100):
        batch = dead_letters(stack, queue)
        if not batch:
            return found
        found += batch
    raise AssertionError(f"{queue} did not empty after {len(found)} dead letters")
