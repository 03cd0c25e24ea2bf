"""Flower's hooks for an SQS broker; ``s3meta.monitor.command`` calls ``install()``."""

from __future__ import annotations

from functools import cache
from typing import Any

from kombu.transport import SQS, resolve_transport

from s3meta.aws.clients import sqs_client
from s3meta.aws.sqs import Queue, pipeline_queues
from s3meta.config import get_settings
from s3meta.monitor.broker import SQSBroker


def install() -> None:
    """Make Flower's broker page and ``/api/queues/length`` read SQS queue depths, and its
    event capture end (deleting its queue) when Flower stops.

    Other brokers still get Flower's own clients. Nothing happens on import: only Flower's
    process calls this.
    """
    from s3meta.compat import flower as upstream

    upstream.replace_broker_factory(broker_client)
    upstream.make_event_capture_stoppable()


def broker_client(broker_url: str, *args: Any, **kwargs: Any) -> Any:
    """The broker client for ``broker_url``: ours for SQS, else Flower's.

    Flower passes the URL Celery's connection prints, whose scheme is the transport class
    when ``broker_transport`` names one (``s3meta.compat.kombu:Transport://…``).
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
