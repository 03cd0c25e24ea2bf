"""Publishing ``extract_metadata`` tasks: for object events (the bridge) and manual requeues."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from s3meta.bridge import Published
from s3meta.domain.events import ObjectEvent
from s3meta.domain.task_call import task_kwargs
from s3meta.errors import InvalidTaskArguments, PublishError, S3MetaError
from tasks.app import app
from tasks.batch import EncodedTask, KombuSqsEncoder, publishes_to_sqs, send_tasks
from tasks.extract import extract_metadata

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

# Ride out a blip in SQS; past this the bridge keeps the event message for redelivery.
PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}


def retry_delays(policy: dict[str, Any]) -> tuple[float, ...]:
    """The waits before each retry under a kombu retry policy: ``interval_start``, then
    ``interval_step`` longer each time, never longer than ``interval_max``."""
    start, step, longest = policy["interval_start"], policy["interval_step"], policy["interval_max"]
    return tuple(min(start + step * n, longest) for n in range(policy["max_retries"]))


class CeleryPublisher:
    """Sends ``extract_metadata`` tasks to the Celery broker.

    Events come in batches (``publish_all``): on SQS, ten tasks to a SendMessageBatch, with
    messages Celery would send (``tasks.batch.KombuSqsEncoder``); on another broker, one
    ``apply_async`` each. One event (``publish``) or requeued key (``requeue``) goes by
    ``apply_async``. ``sqs`` is the client for the batches; by default one from the settings.
    """

    def __init__(self, sqs: SQSClient | None = None) -> None:
        self._sqs = sqs
        self._encoder: KombuSqsEncoder | None = None
        self._batches: bool | None = None  # whether the broker takes SendMessageBatch
        self._lock = threading.Lock()

    def publish_all(self, events: Sequence[ObjectEvent]) -> list[Published]:
        """Publish one task per event; for each event, in order, its task id once the broker
        has it, or why not (``PublishError``, ``InvalidTaskArguments``).

        A SendMessageBatch that failed on a blip, and tasks SQS refused through no fault of
        ours, are sent again as ``PUBLISH_RETRY_POLICY`` says before they count as refused.
        """
        try:
            encoder = self._batch_encoder()
        except S3MetaError as exc:
            return [
                PublishError(f"could not publish the task for {_uri(e)}: {exc}") for e in events
            ]
        if encoder is None:
            return [self._publish_one(event) for event in events]
        outcomes: list[Published | EncodedTask] = []
        for event in events:
            try:
                outcomes.append(encoder.encode(event.bucket, event.key, **task_kwargs(event)))
            except InvalidTaskArguments as exc:
                outcomes.append(exc)
            except S3MetaError as exc:
                outcomes.append(
                    PublishError(f"could not publish the task for {_uri(event)}: {exc}")
                )
        encoded = [outcome for outcome in outcomes if isinstance(outcome, EncodedTask)]
        reasons = iter(send_tasks(self._client(), encoded, retry_delays(PUBLISH_RETRY_POLICY)))
        published: list[Published] = []
        for event, outcome in zip(events, outcomes, strict=True):
            if not isinstance(outcome, EncodedTask):
                published.append(outcome)
            elif (reason := next(reasons)) is None:
                published.append(outcome.task_id)
            else:
                published.append(
                    PublishError(f"could not publish the task for {_uri(event)}: {reason}")
                )
        return published

    def close(self) -> None:
        """Release the broker connection batches were encoded on, if any."""
        with self._lock:
            if self._encoder is not None:
                self._encoder.close()
                self._encoder = None

    def publish(self, event: ObjectEvent) -> str:
        """Publish the task for ``event``; returns its task id once the broker has it."""
        return self._send(event.bucket, event.key, task_kwargs(event))

    def requeue(self, bucket: str, key: str) -> str:
        """Publish a manual requeue of ``bucket``/``key`` (no event fields); returns its task id."""
        return self._send(bucket, key, {})

    def _publish_one(self, event: ObjectEvent) -> Published:
        try:
            return self.publish(event)
        except (PublishError, InvalidTaskArguments) as exc:
            return exc

    def _batch_encoder(self) -> KombuSqsEncoder | None:
        """The encoder for batches, made on first use; None if the broker is not SQS."""
        with self._lock:
            if self._batches is None:
                self._batches = publishes_to_sqs(app)
            if self._batches and self._encoder is None:
                self._encoder = KombuSqsEncoder(app)
            return self._encoder

    def _client(self) -> SQSClient:
        with self._lock:
            if self._sqs is None:
                from s3meta.aws.clients import sqs_client
                from s3meta.config import get_settings

                self._sqs = sqs_client(get_settings())
            return self._sqs

    def _send(self, bucket: str, key: str, kwargs: dict[str, Any]) -> str:
        try:
            result = extract_metadata.apply_async(
                args=(bucket, key),
                kwargs=kwargs,
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
            )
        except InvalidTaskArguments:
            raise  # nothing was sent, and sending again would be refused the same way
        except Exception as exc:  # any failure means the broker may not have it
            raise PublishError(
                f"could not publish the task for s3://{bucket}/{key}: {exc}"
            ) from exc
        return str(result.id)


def _uri(event: ObjectEvent) -> str:
    return f"s3://{event.bucket}/{event.key}"
