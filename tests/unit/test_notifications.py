"""The pure part of ``s3meta setup``: merging notifications, the queue policy, IAM policies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3meta.deployment.arns import queue_arn
from s3meta.deployment.notifications import (
    KeyFilter,
    configuration_id,
    describe_notification_change,
    events_overlap,
    plan_notification,
)
from s3meta.domain.event_names import SUBSCRIBED

REGION = "us-east-1"
ACCOUNT = "123456789012"
EVENTS_QUEUE = "s3meta-events"
OURS = queue_arn(REGION, ACCOUNT, EVENTS_QUEUE)
OTHER_QUEUE = queue_arn(REGION, ACCOUNT, "someone-elses-queue")
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:uploads"
LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:thumbnails"


def rules(**values: str) -> dict[str, Any]:
    return {"Key": {"FilterRules": [{"Name": n, "Value": v} for n, v in values.items()]}}


EVERY_KEY = KeyFilter()


def plan(current: dict[str, Any], key_filter: KeyFilter = EVERY_KEY) -> Any:
    return plan_notification(
        current, queue_arn=OURS, events_queue=EVENTS_QUEUE, key_filter=key_filter
    )


OTHER_CONSUMERS: dict[str, Any] = {
    "TopicConfigurations": [
        {"Id": "topic", "TopicArn": TOPIC, "Events": ["s3:ObjectRestore:*"]},
    ],
    "QueueConfigurations": [
        {
            "Id": "other-queue",
            "QueueArn": OTHER_QUEUE,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": rules(Prefix="other/"),
        },
    ],
    "LambdaFunctionConfigurations": [
        {
            "Id": "lambda",
            "LambdaFunctionArn": LAMBDA,
            "Events": ["s3:ObjectCreated:Put"],
            "Filter": rules(Suffix=".jpg"),
        },
    ],
    "EventBridgeConfiguration": {},
}


# Key filters and event types --------------------------------------------------------------------


def test_key_filter_reads_rule_names_in_any_case() -> None:
    assert KeyFilter.of({"Filter": rules(Prefix="a/", Suffix=".txt")}) == KeyFilter("a/", ".txt")
    assert KeyFilter.of({"Filter": rules(prefix="a/")}) == KeyFilter("a/", "")
    assert KeyFilter.of({}) == KeyFilter()
    assert KeyFilter.of({"Filter": {"Key": {"FilterRules": []}}}) == KeyFilter()


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        (KeyFilter(), KeyFilter("logs/"), True),
        (KeyFilter("data/"), KeyFilter("data/in/"), True),
        (KeyFilter("data/"), KeyFilter("other/"), False),
        (KeyFilter("", ".jpg"), KeyFilter("images/", ""), True),
        (KeyFilter("", ".jpg"), KeyFilter("", ".png"), False),
        (KeyFilter("a/", ".jpg"), KeyFilter("a/", "x.jpg"), True),
        (KeyFilter("a/", ".jpg"), KeyFilter("b/", ".jpg"), False),
    ],
)
def test_key_filters_overlap_when_some_key_passes_both(
    first: KeyFilter, second: KeyFilter, overlap: bool
) -> None:
    assert first.overlaps(second) is overlap
    assert second.overlaps(first) is overlap


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("s3:ObjectCreated:*", "s3:ObjectCreated:Put", True),
        ("s3:ObjectCreated:*", "s3:ObjectCreated:*", True),
        ("s3:ObjectRemoved:Delete", "s3:ObjectRemoved:*", True),
        ("s3:ObjectCreated:*", "s3:ObjectRemoved:*", False),
        ("s3:ObjectRemoved:*", "s3:ObjectRestore:*", False),
        ("s3:LifecycleExpiration:*", "s3:LifecycleTransition", False),
        ("s3:ObjectCreated:Put", "s3:ObjectCreated:Post", False),
    ],
)
def test_event_types_overlap_through_wildcards(first: str, second: str, overlap: bool) -> None:
    assert events_overlap(first, second) is overlap
    assert events_overlap(second, first) is overlap


# Merging the bucket's notification configuration ----------------------------------------------


def test_an_empty_bucket_gets_our_configuration() -> None:
    result = plan({"ResponseMetadata": {"HTTPStatusCode": 200}})

    assert result.change == "add"
    assert result.configuration == {
        "QueueConfigurations": [
            {"Id": configuration_id(EVENTS_QUEUE), "QueueArn": OURS, "Events": list(SUBSCRIBED)}
        ]
    }
    assert result.kept == 0
    assert result.conflicts == ()


def test_other_consumers_configurations_are_kept_as_they_are() -> None:
    current = {**json.loads(json.dumps(OTHER_CONSUMERS)), "ResponseMetadata": {}}

    result = plan(current, KeyFilter("data/", ".csv"))

    assert result.change == "add"
    assert result.kept == 3
    assert result.conflicts == ()
    configuration = result.configuration
    assert "ResponseMetadata" not in configuration
    assert configuration["TopicConfigurations"] == OTHER_CONSUMERS["TopicConfigurations"]
    assert (
        configuration["LambdaFunctionConfigurations"]
        == (OTHER_CONSUMERS["LambdaFunctionConfigurations"])
    )
    assert configuration["EventBridgeConfiguration"] == {}
    queues = configuration["QueueConfigurations"]
    assert queues[0] == OTHER_CONSUMERS["QueueConfigurations"][0]
    assert queues[1] == {
        "Id": "s3meta-s3meta-events",
        "QueueArn": OURS,
        "Events": [
            "s3:ObjectCreated:*",
            "s3:ObjectRemoved:*",
            "s3:LifecycleExpiration:*",
            "s3:ObjectTagging:*",
        ],
        "Filter": rules(prefix="data/", suffix=".csv"),
    }


def test_our_configuration_as_s3_returns_it_is_no_change() -> None:
    # S3 returns rule names capitalised and may list the events in another order.
    current = {
        **OTHER_CONSUMERS,
        "QueueConfigurations": [
            *OTHER_CONSUMERS["QueueConfigurations"],
            {
                "Id": configuration_id(EVENTS_QUEUE),
                "QueueArn": OURS,
                "Events": list(reversed(SUBSCRIBED)),
                "Filter": rules(Suffix=".csv", Prefix="data/"),
            },
        ],
    }

    result = plan(current, KeyFilter("data/", ".csv"))

    assert result.change == "none"
    assert not result.changed


def test_our_configuration_with_another_filter_is_replaced() -> None:
    old = {"Id": configuration_id(EVENTS_QUEUE), "QueueArn": OURS, "Events": list(SUBSCRIBED)}
    current = {"QueueConfigurations": [old, *OTHER_CONSUMERS["QueueConfigurations"]]}

    result = plan(current, KeyFilter("data/"))

    assert result.change == "replace"
    assert result.replaced == (old,)
    queues = result.configuration["QueueConfigurations"]
    assert [q["Id"] for q in queues] == ["other-queue", "s3meta-s3meta-events"]
    assert KeyFilter.of(queues[1]) == KeyFilter("data/")
    line = describe_notification_change("bucket-a", result)
    assert line.startswith("put notification configuration on bucket bucket-a: replace ")
    assert "every key" in line
    assert "prefix 'data/'" in line
    assert line.endswith("keep 1 other configuration(s)")


def test_every_configuration_for_our_queue_becomes_one() -> None:
    # Hand-made ones (S3 gave them random Ids) for our queue, split by event type.
    current = {
        "QueueConfigurations": [
            {"Id": "abc", "QueueArn": OURS, "Events": ["s3:ObjectCreated:*"]},
            {"Id": "def", "QueueArn": OURS, "Events": ["s3:ObjectRemoved:*"]},
        ]
    }

    result = plan(current)

    assert result.change == "replace"
    assert len(result.replaced) == 2
    assert [q["Id"] for q in result.configuration["QueueConfigurations"]] == [
        "s3meta-s3meta-events"
    ]
    assert plan(result.configuration).change == "none"


def test_our_id_taken_by_another_consumer_gets_a_number() -> None:
    taken = {
        "Id": configuration_id(EVENTS_QUEUE),
        "QueueArn": OTHER_QUEUE,
        "Events": ["s3:ObjectRestore:*"],
    }

    result = plan({"QueueConfigurations": [taken]})

    assert [q["Id"] for q in result.configuration["QueueConfigurations"]] == [
        "s3meta-s3meta-events",
        "s3meta-s3meta-events-2",
    ]
    assert plan(result.configuration).change == "none"


@pytest.mark.parametrize(
    ("kind", "arn_key", "arn", "events", "their_filter", "our_filter"),
    [
        ("QueueConfigurations", "QueueArn", OTHER_QUEUE, ["s3:ObjectCreated:Put"], {}, KeyFilter()),
        (
            "TopicConfigurations",
            "TopicArn",
            TOPIC,
            ["s3:ObjectRemoved:*"],
            rules(Prefix="data/"),
            KeyFilter("data/in/"),
        ),
        (
            "LambdaFunctionConfigurations",
            "LambdaFunctionArn",
            LAMBDA,
            ["s3:ObjectCreated:*"],
            rules(Suffix=".jpg"),
            KeyFilter("images/"),
        ),
    ],
)
def test_overlapping_configurations_of_others_are_conflicts(
    kind: str,
    arn_key: str,
    arn: str,
    events: list[str],
    their_filter: dict[str, Any],
    our_filter: KeyFilter,
) -> None:
    theirs: dict[str, Any] = {"Id": "theirs", arn_key: arn, "Events": events}
    if their_filter:
        theirs["Filter"] = their_filter

    result = plan({kind: [theirs]}, our_filter)

    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert conflict.config_id == "theirs"
    assert conflict.destination == arn
    assert "'theirs'" in conflict.describe()
    assert arn in conflict.describe()


def test_no_conflict_for_other_event_types_or_disjoint_keys() -> None:
    current = {
        "QueueConfigurations": [
            {"Id": "restore", "QueueArn": OTHER_QUEUE, "Events": ["s3:ObjectRestore:*"]},
            {
                "Id": "logs",
                "QueueArn": OTHER_QUEUE,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": rules(Prefix="logs/"),
            },
            {
                "Id": "images",
                "QueueArn": OTHER_QUEUE,
                "Events": ["s3:ObjectRemoved:*"],
                "Filter": rules(Suffix=".jpg"),
            },
        ]
    }

    assert plan(current, KeyFilter("data/", ".csv")).conflicts == ()


def test_a_configuration_s3_already_holds_is_never_a_conflict() -> None:
    theirs = {"Id": "theirs", "QueueArn": OTHER_QUEUE, "Events": ["s3:ObjectCreated:Put"]}
    ours = {"Id": configuration_id(EVENTS_QUEUE), "QueueArn": OURS, "Events": list(SUBSCRIBED)}

    result = plan({"QueueConfigurations": [theirs, ours]})

    assert result.change == "none"
    assert result.conflicts == ()


_names = st.text("abcdefghij/.-", min_size=0, max_size=6)
_other: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "Id": st.text("abcdef0123", min_size=1, max_size=8),
        "QueueArn": st.sampled_from([OTHER_QUEUE, queue_arn(REGION, ACCOUNT, "third")]),
        "Events": st.lists(
            st.sampled_from(["s3:ObjectCreated:*", "s3:ObjectRestore:*", "s3:ObjectTagging:*"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "Filter": st.builds(lambda p, s: rules(Prefix=p, Suffix=s), _names, _names),
    }
)


@given(
    others=st.lists(_other, max_size=4, unique_by=lambda c: str(c["Id"])),
    prefix=_names,
    suffix=_names,
    topic=st.booleans(),
    eventbridge=st.booleans(),
)
def test_merging_keeps_the_others_and_a_second_merge_changes_nothing(
    others: list[dict[str, Any]], prefix: str, suffix: str, topic: bool, eventbridge: bool
) -> None:
    current: dict[str, Any] = {"QueueConfigurations": others}
    if topic:
        current["TopicConfigurations"] = OTHER_CONSUMERS["TopicConfigurations"]
    if eventbridge:
        current["EventBridgeConfiguration"] = {}

    first = plan(current, KeyFilter(prefix, suffix))
    second = plan(first.configuration, KeyFilter(prefix, suffix))

    assert first.change == "add"
    assert second.change == "none"
    assert first.kept == len(others) + topic
    queues = first.configuration["QueueConfigurations"]
    assert queues[:-1] == others
    assert queues[-1]["QueueArn"] == OURS
    assert first.configuration.get("TopicConfigurations") == current.get("TopicConfigurations")
    assert ("EventBridgeConfiguration" in first.configuration) is eventbridge
    assert len({q["Id"] for q in queues}) == len(queues)
