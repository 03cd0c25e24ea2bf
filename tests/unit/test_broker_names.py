"""The names of s3meta's control and event queues, and which of them are litter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from s3meta.deployment.broker import (
    HEARTBEAT_TAG,
    SQS_NAME_LIMIT,
    Kind,
    QueueSeen,
    fit_sqs_name,
    is_reply_exchange,
    kind_of,
    orphan_subscriptions,
    parse_heartbeat,
    reply_queue,
    select_litter,
)
from s3meta.domain.times import parse_span

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
UUID = "428ff9a8-1072-3f1b-a9ce-9d5abe250346"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (f"s3meta-celeryev-{UUID}", Kind.EVENTS),
        (f"{UUID}-reply-s3meta-pidbox", Kind.REPLY),
        ("celery-1234_ip-10-0-0-1-s3meta-pidbox", Kind.PIDBOX),
        (f"celeryev-{UUID}", None),
        (f"{UUID}-reply-celery-pidbox", None),
        ("celery_host-celery-pidbox", None),
        ("s3meta-tasks", None),
        ("s3meta-events", None),
        ("-s3meta-pidbox", None),
    ],
)
def test_only_s3meta_control_and_event_queues_have_a_kind(name: str, kind: Kind | None) -> None:
    assert kind_of(name) == kind


def test_names_sqs_accepts_are_kept_as_they_are() -> None:
    name = "w" * (SQS_NAME_LIMIT - len("-s3meta-pidbox")) + "-s3meta-pidbox"
    assert fit_sqs_name(name) == name


def test_a_long_worker_queue_name_is_shortened_the_same_way_each_time_and_keeps_its_kind() -> None:
    name = "celery-1_" + "very-long-host-name-" * 6 + "s3meta-pidbox"
    short = fit_sqs_name(name)
    assert len(short) == SQS_NAME_LIMIT
    assert short == fit_sqs_name(name)
    assert short != fit_sqs_name(name.replace("very", "vary"))
    assert kind_of(short) is Kind.PIDBOX


def test_a_pidbox_reply_goes_to_the_queue_kombu_names_after_the_routing_key() -> None:
    assert is_reply_exchange("reply.s3meta.pidbox")
    assert not is_reply_exchange("s3meta.pidbox")
    assert reply_queue("reply.s3meta.pidbox", UUID) == f"{UUID}.reply.s3meta.pidbox"


def test_a_heartbeat_tag_is_read_as_epoch_seconds_and_garbage_is_no_heartbeat() -> None:
    assert parse_heartbeat({HEARTBEAT_TAG: str(int(NOW.timestamp()))}) == NOW
    assert parse_heartbeat({HEARTBEAT_TAG: "soon"}) is None
    assert parse_heartbeat({}) is None


def seen(name: str, created_ago: timedelta, beat_ago: timedelta | None = None) -> QueueSeen:
    beat = NOW - beat_ago if beat_ago is not None else None
    return QueueSeen(name, f"http://sqs/{name}", NOW - created_ago, beat)


def test_litter_is_an_s3meta_queue_with_no_sign_of_life_for_longer_than_the_threshold() -> None:
    hour = timedelta(hours=1)
    queues = [
        seen(f"s3meta-celeryev-{UUID}", 3 * hour),  # never tagged, old: litter
        seen(f"{UUID}-reply-s3meta-pidbox", 3 * hour, beat_ago=timedelta(minutes=4)),  # live
        seen("w1_host-s3meta-pidbox", 5 * hour, beat_ago=2 * hour),  # owner died
        seen("w2_host-s3meta-pidbox", timedelta(minutes=2)),  # just created
        seen("s3meta-tasks", 30 * hour),  # not ours to judge
        seen(f"celeryev-{UUID}", 30 * hour),  # another app's
    ]

    litter = select_litter(queues, NOW, hour)

    assert [(q.name, q.kind) for q in litter] == [
        (f"s3meta-celeryev-{UUID}", Kind.EVENTS),
        ("w1_host-s3meta-pidbox", Kind.PIDBOX),
    ]
    assert litter[1].idle_since == NOW - 2 * hour


def test_a_subscription_is_an_orphan_when_its_sqs_queue_is_not_live() -> None:
    def sub(arn: str, queue: str, protocol: str = "sqs") -> dict[str, str]:
        endpoint = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
        return {"SubscriptionArn": arn, "Endpoint": endpoint, "Protocol": protocol}

    subscriptions = [
        sub("arn:sub:1", "alive"),
        sub("arn:sub:2", "gone"),
        sub("arn:sub:3", "gone", protocol="https"),
        sub("PendingConfirmation", "gone"),
    ]

    assert orphan_subscriptions(subscriptions, {"alive"}) == ["arn:sub:2"]


@pytest.mark.parametrize(
    ("text", "span"),
    [("90s", timedelta(seconds=90)), ("1h", timedelta(hours=1)), (" 2D ", timedelta(days=2))],
)
def test_a_span_is_a_number_and_a_unit(text: str, span: timedelta) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize("text", ["", "1", "h", "1y", "-1h", "999999w"])
def test_anything_else_is_not_a_span(text: str) -> None:
    with pytest.raises(ValueError, match=r"span|100 years"):
        parse_span(text)
