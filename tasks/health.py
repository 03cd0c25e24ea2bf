"""The worker's heartbeat file (``S3META_HEALTH_FILE``), touched from the consumer's loop."""

from __future__ import annotations

from typing import Any

from celery import bootsteps

from s3meta.config import get_settings
from s3meta.health import TOUCH_INTERVAL, Heartbeat


class HealthFile(bootsteps.StartStopStep):  # type: ignore[misc]
    """Touches the health file every few seconds while the consumer is consuming.

    The timer runs in the consumer's event loop, so a loop that hangs stops the touches; a
    consumer that stops (broker connection lost) removes the file until it starts again.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.heartbeat = Heartbeat(get_settings().health_file, interval=0)
        self.tref: Any = None

    def start(self, parent: Any) -> None:
        if self.heartbeat.path is None:
            return
        self.heartbeat.beat()
        self.tref = parent.timer.call_repeatedly(TOUCH_INTERVAL, self.heartbeat.beat)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        self.heartbeat.stop()

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)
