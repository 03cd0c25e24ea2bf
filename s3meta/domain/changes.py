"""The change feed, pure: where it goes, what a message says, and in which order it leaves.

Every journal entry written while ``S3META_CHANGE_TOPIC`` is set gets an outbox row in the
same transaction (``db.outbox``); the relay (``s3meta.relay``) publishes the entries and
deletes their rows. This module holds the rules both sides share:

- ``parse_target``: an SNS topic ARN, an SQS queue ARN, URL or name, and whether it is FIFO;
- ``change_message``: the message of one journal entry (``s3meta/schemas/change-v1.json``);
- ``next_request``: the entries of the next publish request (at most ten, one per key, in
  the outbox's order), so that a key's changes leave in commit order even when an entry fails;
- ``owned``: which of a relay's claimed entries no other relay holds an earlier change of.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from s3meta.domain.records import JournalRecord

SCHEMA_VERSION = 1
SCHEMA = f"s3meta.change/v{SCHEMA_VERSION}"
# SNS PublishBatch and SQS SendMessageBatch take at most ten entries.
REQUEST_LIMIT = 10

# Names: SNS topics 1-256 characters, SQS queues 1-80; of letters, digits, '-' and '_',
# a FIFO one's ending in ".fifo".
_SNS_NAME_PATTERN = r"[A-Za-z0-9_-]{1,251}\.fifo|[A-Za-z0-9_-]{1,256}"
_SNS_ARN = re.compile(rf"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{{12}}:(?P<name>{_SNS_NAME_PATTERN})")
_SQS_NAME_PATTERN = r"[A-Za-z0-9_-]{1,75}\.fifo|[A-Za-z0-9_-]{1,80}"
_SQS_ARN = re.compile(
    rf"arn:aws[a-z-]*:sqs:[a-z0-9-]+:(?P<account>\d{{12}}):(?P<name>{_SQS_NAME_PATTERN})"
)
_SQS_NAME = re.compile(_SQS_NAME_PATTERN)
_FIFO = ".fifo"
Key = tuple[str, str]  # (bucket, key)


class TargetKind(StrEnum):
    SNS = "sns"
    SQS = "sqs"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the feed goes: an SNS topic (by ARN) or an SQS queue (by URL, or name and owner)."""

    kind: TargetKind
    name: str  # the topic's or queue's name
    arn: str | None = None  # SNS: the topic
    url: str | None = None  # SQS: the queue's URL when given as one
    account: str | None = None  # SQS: the queue's owner when given by ARN

    @property
    def fifo(self) -> bool:
        """FIFO topics and queues take a group and a deduplication id per message."""
        return self.name.endswith(_FIFO)


def parse_target(value: str) -> Target:
    """The target ``S3META_CHANGE_TOPIC`` names; ``ValueError`` saying the accepted forms."""
    value = value.strip()
    if match := _SNS_ARN.fullmatch(value):
        return Target(TargetKind.SNS, match["name"], arn=value)
    if match := _SQS_ARN.fullmatch(value):
        return Target(TargetKind.SQS, match["name"], account=match["account"])
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"} and parts.hostname:
        segments = [segment for segment in parts.path.split("/") if segment]
        if len(segments) == 2 and _SQS_NAME.fullmatch(segments[1]):
            return Target(TargetKind.SQS, segments[1], url=value)
    elif _SQS_NAME.fullmatch(value):
        return Target(TargetKind.SQS, value)
    raise ValueError(
        "expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), an SQS queue ARN, "
        "an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME) or an SQS queue name"
    )


@dataclass(frozen=True, slots=True)
class PendingChange:
    """A journal entry waiting in the outbox: the row's id, the entry's id and the entry."""

    outbox_id: int
    journal_id: int
    entry: JournalRecord

    @property
    def key(self) -> Key:
        return (self.entry.bucket, self.entry.object_key)


def change_message(journal_id: int, entry: JournalRecord) -> dict[str, Any]:
    """The feed's message for journal entry ``journal_id`` (``s3meta/schemas/change-v1.json``).

    ``sequence`` is the entry's id: it grows with each change of a key, in commit order (the
    key's row lock orders the writes), so a consumer of a standard queue orders a key's
    messages by it and drops any at or below the last it applied (a redelivery).
    """
    return {"schema": SCHEMA, "version": SCHEMA_VERSION, "sequence": journal_id, **entry.to_json()}


def group_id(change: PendingChange) -> str:
    """A FIFO target's MessageGroupId: ``bucket/key``, cut to the 128 characters allowed.

    Keys that share their first 128 characters share a group: ordered together, never apart.
    """
    return f"{change.entry.bucket}/{change.entry.object_key}"[:128]


def key_hash(bucket: str, key: str) -> int:
    """A signed 64-bit digest of ``bucket``/``key``: the outbox's index of a key's changes.

    Two keys of one digest are only held back together, never reordered.
    """
    digest = hashlib.blake2b(f"{bucket}/{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def next_request(
    pending: Sequence[PendingChange], blocked: set[Key], limit: int = REQUEST_LIMIT
) -> tuple[list[PendingChange], list[PendingChange]]:
    """The next request's entries and what is left, both in outbox order.

    A request carries one entry per key, so that a key's later change is sent only once its
    earlier one was accepted; the changes of a ``blocked`` key (one refused this round) are
    dropped from both: they stay in the outbox, in order, for the next round.
    """
    request: list[PendingChange] = []
    rest: list[PendingChange] = []
    held: set[Key] = set()
    for change in pending:
        if change.key in blocked:
            continue
        if len(request) < limit and change.key not in held:
            request.append(change)
        else:
            rest.append(change)
        held.add(change.key)
    return request, rest


def owned(claimed: Sequence[PendingChange], earliest_elsewhere: Mapping[int, int]) -> list[int]:
    """The outbox ids of ``claimed`` this relay may publish: those of each key before the
    key's earliest row it did not claim (``earliest_elsewhere``, by key hash: another
    relay holds that row and must publish it first)."""
    return [
        change.outbox_id
        for change in claimed
        if change.outbox_id < earliest_elsewhere.get(key_hash(*change.key), change.outbox_id + 1)
    ]
