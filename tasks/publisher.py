"""Publishing ``extract_metadata`` tasks: for object events (the bridge) and manual requeues."""

from __future__ import annotations

from typing import Any

from s3meta.domain.events import ObjectEvent
from s3meta.errors import InvalidTaskArguments, PublishError
from tasks.extract import extract_metadata

# Ride out a blip in SQS; past this the bridge keeps the event message for redelivery.
PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}


class CeleryPublisher:
    """Sends ``extract_metadata`` tasks to the Celery broker, one per event or requeued key."""

    def publish(self, event: ObjectEvent) -> str:
        """Publish the task for ``event``; returns its task id once the broker has it."""
        return self._send(event.bucket, event.key, event.task_kwargs())

    def requeue(self, bucket: str, key: str) -> str:
        """Publish a manual requeue of ``bucket``/``key`` (no event fields); returns its task id."""
        return self._send(bucket, key, {})

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
