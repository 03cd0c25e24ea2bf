"""A bucket's notification configuration as ``s3meta setup`` wants it. Pure: no I/O.

s3meta's queue configuration is merged into whatever the bucket has, leaving every other
consumer's configuration as it was; a configuration S3 would refuse as overlapping is a
``Conflict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from s3meta.deployment.arns import queue_name_of
from s3meta.domain.event_names import SUBSCRIBED

_DESTINATIONS = {
    "TopicConfigurations": ("TopicArn", "topic"),
    "QueueConfigurations": ("QueueArn", "queue"),
    "LambdaFunctionConfigurations": ("LambdaFunctionArn", "Lambda function"),
}
# Everything PutBucketNotificationConfiguration takes; the rest of Get's response is metadata.
_CONFIGURATION_KEYS = (*_DESTINATIONS, "EventBridgeConfiguration")


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """A notification's object key filter; empty strings mean no rule."""

    prefix: str = ""
    suffix: str = ""

    @classmethod
    def of(cls, configuration: Mapping[str, Any]) -> KeyFilter:
        """The filter of one Topic/Queue/LambdaFunction configuration (rule names any case)."""
        rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        found = {str(rule.get("Name", "")).lower(): str(rule.get("Value", "")) for rule in rules}
        return cls(prefix=found.get("prefix", ""), suffix=found.get("suffix", ""))

    def rules(self) -> list[dict[str, str]]:
        rules = []
        if self.prefix:
            rules.append({"Name": "prefix", "Value": self.prefix})
        if self.suffix:
            rules.append({"Name": "suffix", "Value": self.suffix})
        return rules

    def overlaps(self, other: KeyFilter) -> bool:
        """Whether some key passes both filters: S3 refuses that for the same event types."""
        prefixes = self.prefix.startswith(other.prefix) or other.prefix.startswith(self.prefix)
        suffixes = self.suffix.endswith(other.suffix) or other.suffix.endswith(self.suffix)
        return prefixes and suffixes

    def describe(self) -> str:
        parts = []
        if self.prefix:
            parts.append(f"prefix {self.prefix!r}")
        if self.suffix:
            parts.append(f"suffix {self.suffix!r}")
        return ", ".join(parts) or "every key"


EVERY_KEY = KeyFilter()


def configuration_id(events_queue: str) -> str:
    """The Id of s3meta's queue configuration on a bucket."""
    return f"s3meta-{events_queue}"


def queue_configuration(arn: str, config_id: str, key_filter: KeyFilter) -> dict[str, Any]:
    """s3meta's QueueConfiguration: the events queue, our events, the key filter if any."""
    configuration: dict[str, Any] = {"Id": config_id, "QueueArn": arn, "Events": list(SUBSCRIBED)}
    rules = key_filter.rules()
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def events_overlap(first: str, second: str) -> bool:
    """Whether two S3 event types share an event (``s3:ObjectCreated:*`` covers ``…:Put``)."""

    def covers(pattern: str, name: str) -> bool:
        return pattern == name or (pattern.endswith("*") and name.startswith(pattern[:-1]))

    return covers(first, second) or covers(second, first)


@dataclass(frozen=True, slots=True)
class Conflict:
    """Another consumer's configuration that overlaps ours (same events, overlapping keys)."""

    kind: str
    config_id: str
    destination: str
    events: tuple[str, ...]
    key_filter: KeyFilter

    def describe(self) -> str:
        return (
            f"configuration {self.config_id!r} ({self.kind} {self.destination}, "
            f"{', '.join(self.events)}, {self.key_filter.describe()})"
        )


@dataclass(frozen=True, slots=True)
class NotificationPlan:
    """What to put on one bucket; ``change`` is "add", "replace" or "none"."""

    change: str
    configuration: dict[str, Any]
    ours: dict[str, Any]
    replaced: tuple[dict[str, Any], ...]
    kept: int
    conflicts: tuple[Conflict, ...]

    @property
    def changed(self) -> bool:
        return self.change != "none"


def plan_notification(
    current: Mapping[str, Any], *, queue_arn: str, events_queue: str, key_filter: KeyFilter
) -> NotificationPlan:
    """The bucket's configuration with s3meta's queue configuration added or replaced.

    ``current`` is GetBucketNotificationConfiguration's response. Configurations for other
    destinations, EventBridge's switch and other queues' configurations are kept as they are;
    configurations for our queue are replaced by exactly one of ours. ``conflicts`` lists the
    kept configurations that S3 would find overlapping with ours (only when there is a change
    to make: one S3 already accepted cannot conflict).
    """
    existing = {key: current[key] for key in _CONFIGURATION_KEYS if key in current}
    queue_configurations = list(existing.get("QueueConfigurations", []))
    ours_now = tuple(c for c in queue_configurations if c.get("QueueArn") == queue_arn)
    others: dict[str, list[dict[str, Any]]] = {
        kind: [
            dict(c)
            for c in existing.get(kind, [])
            if kind != "QueueConfigurations" or c.get("QueueArn") != queue_arn
        ]
        for kind in _DESTINATIONS
    }
    taken = {str(c.get("Id")) for configurations in others.values() for c in configurations}
    config_id = _free_id(configuration_id(events_queue), taken)
    ours = queue_configuration(queue_arn, config_id, key_filter)
    kept = sum(len(configurations) for configurations in others.values())

    if len(ours_now) == 1 and same_queue_configuration(ours_now[0], ours):
        return NotificationPlan("none", dict(existing), ours, (), kept, ())

    configuration: dict[str, Any] = {}
    for kind, configurations in others.items():
        if kind == "QueueConfigurations":
            configurations = [*configurations, ours]
        if configurations:
            configuration[kind] = configurations
    if "EventBridgeConfiguration" in existing:
        configuration["EventBridgeConfiguration"] = existing["EventBridgeConfiguration"]
    conflicts = tuple(
        conflict
        for kind, configurations in others.items()
        for other in configurations
        if (conflict := _conflict(kind, other, key_filter)) is not None
    )
    return NotificationPlan(
        change="replace" if ours_now else "add",
        configuration=configuration,
        ours=ours,
        replaced=ours_now,
        kept=kept,
        conflicts=conflicts,
    )


def same_queue_configuration(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Equal as S3 sees them: events as a set, filter rule names in any case."""
    return (
        first.get("Id") == second.get("Id")
        and first.get("QueueArn") == second.get("QueueArn")
        and set(first.get("Events", [])) == set(second.get("Events", []))
        and KeyFilter.of(first) == KeyFilter.of(second)
    )


def describe_notification_change(bucket: str, plan: NotificationPlan) -> str:
    """One line for the operator: what the put does to the bucket."""
    what = _describe_queue_configuration(plan.ours)
    if plan.replaced:
        was = "; ".join(_describe_queue_configuration(old) for old in plan.replaced)
        change = f"replace {was} with {what}"
    else:
        change = f"add {what}"
    kept = f"; keep {plan.kept} other configuration(s)" if plan.kept else ""
    return f"put notification configuration on bucket {bucket}: {change}{kept}"


def _describe_queue_configuration(configuration: Mapping[str, Any]) -> str:
    events = ", ".join(str(event) for event in configuration.get("Events", []))
    return (
        f"{configuration.get('Id', '?')} -> {queue_name_of(str(configuration.get('QueueArn')))} "
        f"({events}; {KeyFilter.of(configuration).describe()})"
    )


def _free_id(wanted: str, taken: set[str]) -> str:
    """``wanted``, or ``wanted-2``, ``-3``…: S3 wants configuration Ids unique per bucket."""
    candidate, number = wanted, 1
    while candidate in taken:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate


def _conflict(kind: str, other: Mapping[str, Any], key_filter: KeyFilter) -> Conflict | None:
    events = tuple(str(event) for event in other.get("Events", []))
    if not any(events_overlap(ours, theirs) for ours in SUBSCRIBED for theirs in events):
        return None
    theirs = KeyFilter.of(other)
    if not key_filter.overlaps(theirs):
        return None
    arn_key, label = _DESTINATIONS[kind]
    return Conflict(
        kind=label,
        config_id=str(other.get("Id", "")),
        destination=str(other.get(arn_key, "")),
        events=events,
        key_filter=theirs,
    )
