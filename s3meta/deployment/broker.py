"""s3meta's Celery control and event names on SQS/SNS, and which of them are litter.

Pure: no AWS calls. ``s3meta.compat.kombu`` names queues with it, ``s3meta broker-cleanup``
selects what to remove with it, and ``s3meta.deployment.iam`` scopes the policies to it.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from s3meta.deployment.arns import queue_name_of

# Celery's names, scoped to s3meta so that cleanup can never take another app's queues:
# control_exchange "s3meta" gives the fanout exchange "s3meta.pidbox", worker queues
# "<hostname>.<pid>.s3meta.pidbox" (s3meta.compat.kombu.ProcessMailbox) and replies through
# "reply.s3meta.pidbox" to "<uuid>.reply.s3meta.pidbox"; monitors read events from
# "s3meta.celeryev.<uuid>".
CONTROL_EXCHANGE = "s3meta"
EVENT_EXCHANGE = "s3meta.celeryev"
EVENT_QUEUE_PREFIX = "s3meta.celeryev"

# The same names as kombu's SQS transport spells them ('.' -> '-', other punctuation -> '_').
PIDBOX_TOPIC = "s3meta-pidbox"
EVENTS_TOPIC = "s3meta-celeryev"
_EVENT_QUEUE = re.compile(r"s3meta-celeryev-[0-9a-f-]{32,36}")
_REPLY_QUEUE = re.compile(r"[0-9a-f-]{32,36}-reply-s3meta-pidbox")
_PIDBOX_SUFFIX = "-s3meta-pidbox"
# IAM resource patterns covering every control queue (worker, reply) and every event queue.
CONTROL_QUEUE_PATTERN = f"*{_PIDBOX_SUFFIX}"
EVENT_QUEUE_PATTERN = f"{EVENTS_TOPIC}-*"

# A process that consumes one of these queues tags it at most this often (TagQueue), so
# that cleanup can tell a live queue from one whose owner died: SQS records no last receive.
HEARTBEAT_TAG = "s3meta-heartbeat"
HEARTBEAT_INTERVAL = timedelta(minutes=5)
# Cleanup refuses thresholds that a live queue between two heartbeats could exceed.
MIN_IDLE = 2 * HEARTBEAT_INTERVAL

# SQS queue names: 1-80 letters, digits, '-' and '_'.
SQS_NAME_LIMIT = 80
_DIGEST_LENGTH = 8
_KEPT_TAIL = 20


class Kind(enum.StrEnum):
    """What a control or event queue is for."""

    EVENTS = "events"  # one per monitor (Flower, celery events)
    REPLY = "reply"  # one per process that sends remote control commands
    PIDBOX = "pidbox"  # one per worker process


@dataclass(frozen=True)
class QueueSeen:
    """A queue as cleanup found it: when it was created and last announced live."""

    name: str
    url: str
    created: datetime
    heartbeat: datetime | None


@dataclass(frozen=True)
class Litter:
    """A queue cleanup removes, and why."""

    name: str
    url: str
    kind: Kind
    idle_since: datetime


def fit_sqs_name(name: str) -> str:
    """``name`` if SQS accepts its length; else a deterministic 80-character form.

    Keeps the head and the tail (so ``-s3meta-pidbox`` still ends a long worker queue's
    name) around a digest of the whole: every process shortens a name the same way.
    """
    if len(name) <= SQS_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST_LENGTH]
    head = SQS_NAME_LIMIT - _DIGEST_LENGTH - 2 - _KEPT_TAIL
    return f"{name[:head]}-{digest}-{name[-_KEPT_TAIL:]}"


def kind_of(sqs_name: str) -> Kind | None:
    """The kind of an s3meta control or event queue (SQS spelling); ``None`` for any other."""
    if _EVENT_QUEUE.fullmatch(sqs_name):
        return Kind.EVENTS
    if _REPLY_QUEUE.fullmatch(sqs_name):
        return Kind.REPLY
    if sqs_name.endswith(_PIDBOX_SUFFIX) and len(sqs_name) > len(_PIDBOX_SUFFIX):
        return Kind.PIDBOX
    return None


def is_reply_exchange(exchange: str) -> bool:
    """Whether ``exchange`` is a kombu pidbox reply exchange (``reply.<namespace>.pidbox``)."""
    return exchange.startswith("reply.") and exchange.endswith(".pidbox")


def reply_queue(exchange: str, routing_key: str) -> str:
    """The queue a pidbox reply goes to: kombu names it ``<routing key>.<reply exchange>``."""
    return f"{routing_key}.{exchange}"


def parse_heartbeat(tags: Mapping[str, str]) -> datetime | None:
    """The heartbeat a queue's tags hold (epoch seconds), if any readable one."""
    value = tags.get(HEARTBEAT_TAG)
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        return None


def select_litter(queues: Iterable[QueueSeen], now: datetime, idle: timedelta) -> list[Litter]:
    """s3meta's control and event queues that nobody announced live for longer than ``idle``.

    A queue's last sign of life is its heartbeat tag, else its creation. Queues of any
    other name are never selected.
    """
    found = []
    for queue in queues:
        kind = kind_of(queue.name)
        if kind is None:
            continue
        seen = max(queue.created, queue.heartbeat) if queue.heartbeat else queue.created
        if now - seen > idle:
            found.append(Litter(queue.name, queue.url, kind, seen))
    return sorted(found, key=lambda litter: litter.name)


def orphan_subscriptions(
    subscriptions: Iterable[Mapping[str, str]], live_queues: set[str]
) -> list[str]:
    """ARNs of SQS subscriptions (of s3meta's topics) whose queue is not among ``live_queues``.

    ``subscriptions`` are SNS ListSubscriptionsByTopic entries; ``PendingConfirmation`` and
    other protocols are left alone.
    """
    return [
        sub["SubscriptionArn"]
        for sub in subscriptions
        if sub.get("Protocol", "").lower() == "sqs"
        and sub.get("SubscriptionArn", "").startswith("arn:")
        and queue_name_of(sub.get("Endpoint", "")) not in live_queues
    ]
