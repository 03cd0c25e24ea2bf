"""The Lambda deployment's use case: the events a Lambda invocation carries, indexed by the
same ``Indexer`` the Celery worker runs, each message settled by the bridge's rules.

``environment()`` builds the parts once per execution environment (``s3meta.composition``:
the S3 client, the database engine with its pool, the dead-letter queue's client) and the
handler (``s3meta.lambda_handler``) reuses them across invocations.

One SQS message (one events-queue body, as the bridge reads it) is settled so:

- every event indexed, or failed for good (the attempt says so, as a failed Celery task's
  does; ``s3meta requeue --failed`` runs it again) → done, deleted by the event source mapping;
- unusable (a body the parser rejects, a call no run can use) → copied to the dead-letter
  queue with its reason, exactly as the bridge does (``bridge.dead_letter``), then done;
- a transient failure (S3 throttling, the database gone) → the attempt is recorded with the
  message's delivery number (``ApproximateReceiveCount``) and the message is reported in
  ``batchItemFailures``: SQS delivers it again, and the events already indexed run again,
  harmlessly (the write rule is idempotent and ordered by the row lock, as for Celery);
- the function's time nearly up (``Cutoff``) → not started, reported, delivered again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from s3meta import composition
from s3meta.aws.lambda_records import queue_message
from s3meta.aws.sqs import DeadLetters, Queue, QueueMessage
from s3meta.bridge import dead_letter, dead_letter_reason
from s3meta.config import Settings, get_settings
from s3meta.domain.event_names import is_known_event_name
from s3meta.domain.events import parse_body
from s3meta.domain.invocations import (
    BatchOutcome,
    Cutoff,
    Verdict,
    direct_body,
    message_ids,
    queue_name_of,
)
from s3meta.domain.task_call import task_kwargs
from s3meta.errors import DatabaseUnavailable, TransientError
from s3meta.indexing import Failed, Indexed, Indexer, Refused, Retry

if TYPE_CHECKING:
    from db.outbox import OutboxTable
    from s3meta.aws.feed import FeedPublisher

logger = logging.getLogger(__name__)

# Remaining time of the invocation, in milliseconds (``context.get_remaining_time_in_millis``).
RemainingTime = Callable[[], int]


class RetryLater(TransientError):
    """A direct invocation's event failed for now: raised, so Lambda's async retries apply."""


@dataclass
class Invocation:
    """One invocation's state: the time it has left, and whether the database was found down
    (then the batch's other messages are not started: each would wait on it in vain)."""

    remaining_ms: RemainingTime
    database_down: bool = False


@dataclass(frozen=True)
class LambdaIndexing:
    """Indexes the events of Lambda invocations; built once per execution environment."""

    indexer: Indexer
    dead_letters: DeadLetters
    events_queue: str  # the source named on dead letters when a record does not say
    cutoff: Cutoff = field(default_factory=Cutoff)

    def handle_batch(
        self, records: Sequence[Mapping[str, Any]], invocation: Invocation
    ) -> BatchOutcome:
        """Settle every message of an SQS batch, in order; stop at the cut-off."""
        ids = message_ids(records)
        outcome = BatchOutcome()
        for message_id, record in zip(ids, records, strict=True):
            outcome.add(message_id, self.settle_record(record, invocation))
        log_batch(outcome)
        return outcome

    def settle_record(self, record: Mapping[str, Any], invocation: Invocation) -> Verdict:
        """Settle one SQS record (a message of the events queue), unless time is nearly up
        or the database was found down."""
        if invocation.database_down or self.cutoff.reached(invocation.remaining_ms()):
            return Verdict.NOT_STARTED
        source = queue_name_of(record.get("eventSourceARN")) or self.events_queue
        return self.settle(queue_message(record), source, invocation)

    def handle_direct(
        self, event: Mapping[str, Any], request_id: str, invocation: Invocation
    ) -> Verdict:
        """Index an S3 trigger's or EventBridge's event; raise ``RetryLater`` if it is to be
        tried again (Lambda's async retries), after recording the attempt."""
        message = QueueMessage(
            message_id=request_id, receipt_handle="", body=direct_body(event), receive_count=1
        )
        verdict = self.settle(message, f"lambda:{request_id}", invocation)
        if verdict in (Verdict.RETRY, Verdict.NOT_STARTED):
            raise RetryLater(f"invocation {request_id}: {verdict}; Lambda tries it again")
        return verdict

    def settle(self, message: QueueMessage, source: str, invocation: Invocation) -> Verdict:
        """Index the message's events; what becomes of the message."""
        parsed = parse_body(message.body)
        if parsed.test_event:
            logger.info("s3:TestEvent acknowledged (message %s)", message.message_id)
            return Verdict.DONE
        unusable: list[str] = []
        for number, event in enumerate(parsed.events):
            if self.cutoff.reached(invocation.remaining_ms()):
                logger.warning(
                    "message %s: time nearly up after %d of %d events; delivered again",
                    message.message_id, number, len(parsed.events),
                )  # fmt: skip
                return Verdict.RETRY if number else Verdict.NOT_STARTED
            if not is_known_event_name(event.event_name):
                logger.warning("unfamiliar event %r indexed anyway", event.event_name)
            indexed = self.indexer.index(
                event.bucket,
                event.key,
                task_kwargs(event),
                attempt=message.receive_count,
                task_id=task_id(message.message_id, number),
            )
            match indexed:
                case Retry(error=exc):
                    if isinstance(exc, DatabaseUnavailable):
                        logger.error(
                            "the database is unavailable: the batch's other messages "
                            "are not started and return with this one"
                        )
                        invocation.database_down = True
                    # The rest of the message runs when it comes back: all of it, again.
                    return Verdict.RETRY
                case Refused(error=exc):
                    unusable.append(str(exc))
                case Indexed() | Failed():
                    pass
        reason = dead_letter_reason(parsed, unusable)
        if reason is None:
            return Verdict.DONE
        if not dead_letter(self.dead_letters, message, reason, source_queue=source):
            return Verdict.RETRY
        return Verdict.DEAD_LETTERED


def log_batch(outcome: BatchOutcome) -> None:
    counts = outcome.counts()
    logger.info(
        "batch of %d: %s",
        len(outcome.verdicts),
        " ".join(f"{name}={n}" for name, n in counts.items()),
    )


def task_id(message_id: str, number: int) -> str:
    """The attempts' task id of event ``number`` of a message: the same on every delivery, so
    that its attempts read 1, 2, 3 as a Celery task's do."""
    return f"lambda-{message_id}-{number}"


def build(settings: Settings) -> LambdaIndexing:
    """The parts, from the settings, by ``s3meta.composition``."""
    from s3meta.aws.clients import sqs_client

    metrics = composition.metrics(settings)
    return LambdaIndexing(
        indexer=composition.indexer(settings, composition.database_url(settings), metrics),
        dead_letters=DeadLetters(Queue(sqs_client(settings), settings.dead_letter_queue)),
        events_queue=settings.events_queue,
        cutoff=Cutoff(settings.lambda_stop_margin_ms),
    )


def migration_url(settings: Settings) -> str:
    """The database URL the one-off migration connects with: ``composition.database_url``'s,
    with a fresh RDS IAM token as its password under ``S3META_DATABASE_IAM_AUTH`` (Alembic
    opens its own connections; one token lasts the 15 minutes a migration may take)."""
    url = composition.database_url(settings)
    if not settings.database_iam_auth:
        return url
    from sqlalchemy.engine import make_url

    from s3meta.aws.clients import rds_client, region
    from s3meta.aws.rds import auth_token_source
    from s3meta.masking import register_secret

    token = auth_token_source(rds_client(settings), url, region(settings))()
    register_secret(token)
    return make_url(url).set(password=token).render_as_string(hide_password=False)


def relay_changes(settings: Settings, remaining_ms: RemainingTime) -> str:
    """Publish the change feed's outbox until it is empty or the invocation's time is nearly
    up (``S3META_LAMBDA_STOP_MARGIN_MS`` left); a summary of what was published. A scheduled
    invocation (the relay function) runs it: what is left waits for the next one."""
    import threading

    from s3meta.relay import Relay

    outbox, publisher = _change_feed(settings)
    relay = Relay(outbox, publisher, composition.relay_retries(settings), drain=True)
    seconds = max(0.0, (remaining_ms() - settings.lambda_stop_margin_ms) / 1000)
    timer = threading.Timer(seconds, relay.stop)
    timer.start()
    try:
        stats = relay.run()
    finally:
        timer.cancel()
    logger.info("relay: %s", stats.summary())
    return stats.summary()


@cache
def _change_feed(settings: Settings) -> tuple[OutboxTable, FeedPublisher]:
    """The relay's parts, kept for the execution environment's life."""
    return composition.change_feed(settings)


@cache
def environment() -> LambdaIndexing:
    """This execution environment's parts, built on the first invocation and kept."""
    return build(get_settings())
