"""Publishing ``extract_metadata`` tasks for object events (what the bridge does)."""

from __future__ import annotations

from s3meta.domain.events import ObjectEvent
from s3meta.errors import PublishError
from tasks.extract import extract_metadata

# Ride out a blip in SQS; past this the bridge keeps the event message for redelivery.
PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}


class CeleryPublisher:
    """Sends one ``extract_metadata`` task per event to the Celery broker."""

    def publish(self, event: ObjectEvent) -> str:
        """Publish the task for ``event``; returns its task id once the broker has it."""
        try:
            result = extract_metadata.apply_async(
                args=(event.bucket, event.key),
                kwargs=event.task_kwargs(),
                retry=True,
                retry_policy=PUBLISH_RETRY_POLICY,
            )
        except Exception as exc:  # any failure means the broker may not have it
            raise PublishError(
                f"could not publish the task for s3://{event.bucket}/{event.key}: {exc}"
            ) from exc
        return str(result.id)
