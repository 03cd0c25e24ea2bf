"""Load through the whole pipeline for the reliability tests: objects in a moto bucket, their
notifications paced onto an events queue of the test's own, and what is left at the end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import PacedFeeder, queue_names, upload
from db.models import ObjectMetadata
from tests.support.stack import Stack


@dataclass
class Load:
    """A bucket of objects, and the queues a bridge and its workers use for them."""

    stack: Stack
    bucket: str
    keys: list[str]
    queues: dict[str, str]

    @property
    def sqs(self) -> Any:
        return self.stack.sqs()

    def url(self, setting: str) -> str:
        return str(self.sqs.get_queue_url(QueueName=self.queues[setting])["QueueUrl"])

    def feed(self, rate: float) -> PacedFeeder:
        """A started feeder sending one notification per key, ``rate`` a second."""
        feeder = PacedFeeder(
            self.sqs, self.url("S3META_EVENTS_QUEUE"), self.bucket, self.keys, rate
        )
        feeder.start()
        return feeder

    def messages(self, setting: str) -> tuple[int, int]:
        """(visible, in flight) messages on the queue of ``setting``."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.url(setting),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )

    def drained(self) -> bool:
        """No message left, visible or in flight, on the events and task queues."""
        return all(
            self.messages(setting) == (0, 0)
            for setting in ("S3META_EVENTS_QUEUE", "S3META_TASK_QUEUE")
        )

    def s3_etags(self) -> dict[str, str]:
        """Every key of the bucket and its ETag (without quotes), as S3 lists them."""
        listed: dict[str, str] = {}
        for page in self.stack.s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                listed[item["Key"]] = item["ETag"].strip('"')
        return listed


def new_load(stack: Stack, objects: int) -> Load:
    """``objects`` uploaded to a new bucket; new events and dead-letter queues."""
    queues = queue_names(uuid.uuid4().hex[:8])
    sqs = stack.sqs()
    for setting in ("S3META_EVENTS_QUEUE", "S3META_DEAD_LETTER_QUEUE"):
        sqs.create_queue(QueueName=queues[setting])
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    keys = upload(stack.s3(), bucket, objects)
    return Load(stack, bucket, keys, queues)


def rows(engine: sa.Engine, bucket: str) -> dict[str, tuple[str | None, bool]]:
    """Each row of ``bucket``: key -> (etag, deleted)."""
    table = ObjectMetadata.__table__
    query = sa.select(table.c.object_key, table.c.etag, table.c.is_deleted).where(
        table.c.bucket == bucket
    )
    with engine.connect() as connection:
        return {key: (etag, bool(deleted)) for key, etag, deleted in connection.execute(query)}


def live_rows(engine: sa.Engine, bucket: str) -> dict[str, str | None]:
    """Each live row of ``bucket``: key -> etag."""
    return {key: etag for key, (etag, deleted) in rows(engine, bucket).items() if not deleted}


def outcomes(engine: sa.Engine) -> dict[str, int]:
    """How many recorded attempts ended each way, and Celery results by state."""
    with engine.connect() as connection:
        attempts = connection.execute(
            sa.text("SELECT outcome, COUNT(*) FROM task_attempts GROUP BY outcome")
        )
        counted = {str(outcome): int(n) for outcome, n in attempts}
        states = connection.execute(
            sa.text("SELECT status, COUNT(*) FROM celery_taskmeta GROUP BY status")
        )
        counted.update({f"result {status}": int(n) for status, n in states})
    return counted
