"""The Flower hooks: the SQS broker client's answer, its dispatch, and the auth check."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from s3meta.aws.sqs import QueueDepth
from s3meta.errors import ConfigError, QueueNotFound
from s3meta.monitor.auth import basic_auth_from_env
from s3meta.monitor.broker import SQSBroker, queue_length
from s3meta.monitor.flower import is_sqs


class FakeQueue:
    def __init__(self, name: str, depth: QueueDepth | None) -> None:
        self.name = name
        self._depth = depth
        self.reads = 0

    def depth(self) -> QueueDepth:
        self.reads += 1
        if self._depth is None:
            raise QueueNotFound(f"no queue {self.name}")
        return self._depth


def lengths(broker: SQSBroker, names: list[str]) -> list[dict[str, Any]]:
    return asyncio.run(broker.queues(names))


def test_named_queues_come_first_then_the_pipelines_others() -> None:
    tasks = FakeQueue("tasks", QueueDepth(visible=3, in_flight=2, delayed=1))
    events = FakeQueue("events", QueueDepth(visible=0, in_flight=0, delayed=0))
    dead = FakeQueue("dlq", None)
    extra = FakeQueue("bulk", QueueDepth(visible=7, in_flight=0, delayed=0))
    broker = SQSBroker(
        [("events", events), ("task", tasks), ("dead-letter", dead)], lambda name: extra
    )

    found = lengths(broker, ["tasks", "bulk", "tasks"])

    assert [(queue["name"], queue["role"]) for queue in found] == [
        ("tasks", "task"),
        ("bulk", "task"),
        ("events", "events"),
        ("dlq", "dead-letter"),
    ]
    assert found[0] == queue_length("task", "tasks", QueueDepth(3, 2, 1))
    assert found[0]["messages"] == 6
    assert found[1]["messages_ready"] == 7
    assert found[3] == {
        "name": "dlq",
        "role": "dead-letter",
        "exists": False,
        "messages": None,
        "messages_ready": None,
        "messages_unacknowledged": None,
        "messages_delayed": None,
    }
    assert tasks.reads == 1


def test_a_queue_made_for_a_name_is_kept_for_later_requests() -> None:
    made: list[str] = []

    def queue_for(name: str) -> FakeQueue:
        made.append(name)
        return FakeQueue(name, QueueDepth(1, 0, 0))

    broker = SQSBroker([], queue_for)
    lengths(broker, ["bulk"])
    lengths(broker, ["bulk"])

    assert made == ["bulk"]


@pytest.mark.parametrize(
    ("url", "sqs"),
    [
        ("sqs://", True),
        ("sqs://key:secret@127.0.0.1:5000", True),
        # Celery prints the transport class as the scheme when broker_transport names one.
        ("s3meta.compat.kombu:Transport://key:**@127.0.0.1:5000//", True),
        ("amqp://guest@localhost//", False),
        ("memory://", False),
        ("no.such.module:Transport://x", False),
        ("", False),
    ],
)
def test_sqs_is_recognised_by_its_transport_class(url: str, sqs: bool) -> None:
    assert is_sqs(url) is sqs


def test_basic_auth_takes_comma_separated_pairs() -> None:
    pairs = basic_auth_from_env({"FLOWER_BASIC_AUTH": "ops:s3cret,audit:pa:ss"})

    assert pairs == ["ops:s3cret", "audit:pa:ss"]


@pytest.mark.parametrize("value", [None, "", "  ", "ops", "ops:", ":secret", "ops:s,"])
def test_basic_auth_is_required_and_well_formed(value: str | None) -> None:
    environ = {} if value is None else {"FLOWER_BASIC_AUTH": value}

    with pytest.raises(ConfigError, match="FLOWER_BASIC_AUTH"):
        basic_auth_from_env(environ)


def test_install_sends_sqs_to_our_client_and_other_brokers_to_flowers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import flower.views
    from flower.utils.broker import RabbitMQ

    from s3meta.monitor import flower as hooks

    ours = SQSBroker([], lambda name: FakeQueue(name, None))
    monkeypatch.setattr(flower.views, "Broker", flower.views.Broker)  # undone after the test
    monkeypatch.setattr(hooks, "sqs_broker", lambda: ours)

    hooks.install()

    assert flower.views.Broker("sqs://key:secret@127.0.0.1:5000") is ours
    assert isinstance(flower.views.Broker("amqp://guest@localhost//", http_api=None), RabbitMQ)
    with pytest.raises(NotImplementedError):
        flower.views.Broker("memory://")


@pytest.mark.parametrize("basic_auth", [[], ["ops:"], [":secret"]])
def test_settings_without_credentials_stop_flower(basic_auth: list[str]) -> None:
    from types import SimpleNamespace

    from s3meta.monitor.command import require_credentials

    with pytest.raises(SystemExit, match=r"^flower: "):
        require_credentials(SimpleNamespace(basic_auth=basic_auth))
