"""Flower's hooks for an SQS broker; ``s3meta.monitor.command`` calls ``install()``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

from kombu.transport import SQS, resolve_transport

from s3meta.aws.clients import sqs_client
from s3meta.aws.sqs import Queue, pipeline_queues
from s3meta.config import get_settings
from s3meta.monitor.broker import SQSBroker

logger = logging.getLogger(__name__)


def install() -> None:
    """Make Flower's broker page and ``/api/queues/length`` read SQS queue depths.

    Replaces the ``Broker`` factory that ``flower.views`` calls; other brokers still get
    Flower's own clients. Nothing happens on import: only Flower's process calls this.
    """
    import flower.events
    import flower.views

    flower.views.Broker = broker_client
    if not getattr(flower.events.Events, "_s3meta_stoppable", False):
        flower.events.Events.run = _capture_until_stopped
        flower.events.Events.stop = _stop_and_release(flower.events.Events.stop)
        flower.events.Events._s3meta_stoppable = True


# How long Flower's exit waits for the event capture to close its connection.
_RELEASE_TIMEOUT = 10.0


def _stopping(events: Any) -> threading.Event:
    found: threading.Event | None = getattr(events, "_s3meta_stopping", None)
    if found is None:
        found = threading.Event()
        events._s3meta_stopping = found
    return found


def _capture_until_stopped(events: Any) -> None:
    """Flower's ``Events.run``, but ending when Flower stops.

    Flower's own loop never returns, and its daemon thread dies with the process inside
    ``with connection``: the monitor's event queue is never deleted, and SQS has no
    auto-delete. Here the receiver stops (``should_stop``, checked every second) and the
    connection closes, which deletes the queue and its SNS subscription.
    """
    from celery.events import EventReceiver

    stopping = _stopping(events)
    retry_in = 1.0
    while not stopping.is_set():
        try:
            with events.capp.connection() as connection:
                receiver = EventReceiver(
                    connection, handlers={"*": events.on_event}, app=events.capp
                )
                events._s3meta_receiver = receiver
                if stopping.is_set():
                    return
                retry_in = 1.0
                receiver.capture(limit=None, timeout=None, wakeup=True)
        except Exception as exc:  # noqa: BLE001 - as Flower does: log, back off, capture again
            logger.error("failed to capture events: %r; trying again in %.0f s", exc, retry_in)
            stopping.wait(retry_in)
            retry_in = min(retry_in * 2, 60.0)


def _stop_and_release(stop: Callable[[Any], None]) -> Callable[[Any], None]:
    def stop_and_release(events: Any) -> None:
        stop(events)
        _stopping(events).set()
        receiver = getattr(events, "_s3meta_receiver", None)
        if receiver is not None:
            receiver.should_stop = True
        if events.is_alive() and threading.current_thread() is not events:
            events.join(timeout=_RELEASE_TIMEOUT)

    return stop_and_release


def broker_client(broker_url: str, *args: Any, **kwargs: Any) -> Any:
    """The broker client for ``broker_url``: ours for SQS, else Flower's.

    Flower passes the URL Celery's connection prints, whose scheme is the transport class
    when ``broker_transport`` names one (``tasks.sqs_transport:Transport://…``).
    """
    from flower.utils.broker import Broker

    if is_sqs(broker_url):
        return sqs_broker()
    return Broker(broker_url, *args, **kwargs)


def is_sqs(broker_url: str) -> bool:
    """Whether ``broker_url``'s transport is kombu's SQS transport or a subclass of it."""
    scheme = broker_url.partition("://")[0]
    try:
        transport = resolve_transport(scheme)
    except (ImportError, KeyError, AttributeError, ValueError):
        return False
    return isinstance(transport, type) and issubclass(transport, SQS.Transport)


@cache
def sqs_broker() -> SQSBroker:
    """The process's SQS broker client, on one boto3 client, for s3meta's settings."""
    settings = get_settings()
    client = sqs_client(settings)
    return SQSBroker(pipeline_queues(client, settings), lambda name: Queue(client, name))
