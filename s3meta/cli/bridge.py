"""``s3meta bridge``."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from s3meta.logs import configure_logging

logger = logging.getLogger("s3meta.bridge")


@click.command()
@click.option("--drain", is_flag=True, help="Exit once the events queue is empty.")
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0),
    default=None,
    help="With --drain, how long to wait for messages in flight before exiting with status 1 "
    "[default: the visibility timeout].",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Receive loops in this process; each holds at most one batch of 10 messages.",
)
@click.option(
    "--wait-seconds",
    type=click.IntRange(0, 20),
    default=None,
    help="Long-polling wait per receive [default: 20, or 1 with --drain].",
)
@click.option(
    "--visibility-timeout",
    type=click.IntRange(1, 43200),
    default=300,
    show_default=True,
    help="Seconds a received batch stays hidden from other bridges while it is handled.",
)
@click.option(
    "--delete-delay",
    type=click.FloatRange(0),
    default=None,
    help="Seconds a handled message may wait for nine more to share a DeleteMessageBatch "
    "[default: 3, or a quarter of a shorter --visibility-timeout]; with --batch-window, at "
    "most half the visibility timeout.",
)
@click.option(
    "--batch-window",
    type=click.FloatRange(0),
    default=0,
    show_default=True,
    help="Seconds a receive that brought fewer than 10 messages waits to top them up, so "
    "that one publish carries more tasks (adds up to that much latency).",
)
def bridge(
    drain: bool,
    drain_timeout: float | None,
    concurrency: int,
    wait_seconds: int | None,
    visibility_timeout: int,
    delete_delay: float | None,
    batch_window: float,
) -> None:
    """Turn S3 notifications on the events queue into extract_metadata tasks.

    A message is deleted only once every task it yields is on the Celery queue; unusable
    messages go to the dead-letter queue with the reason. SIGTERM or SIGINT stops it after
    the current batch and the deletes of the messages done with.
    """
    from s3meta.aws.clients import sqs_client
    from s3meta.aws.sqs import DeadLetters, Queue
    from s3meta.bridge import Bridge, BridgeOptions, run_threads, wait_seconds_for
    from s3meta.cli.errors import one_line_errors
    from s3meta.config import get_settings
    from s3meta.health import Heartbeat
    from tasks.publisher import CeleryPublisher

    with one_line_errors():
        # Checked first: settings that would let messages come back before their delete.
        options = BridgeOptions(
            wait_seconds=wait_seconds_for(drain, wait_seconds),
            visibility_timeout=visibility_timeout,
            drain=drain,
            drain_timeout=drain_timeout,
            delete_delay=delete_delay,
            batch_window=batch_window,
        )
    configure_logging()
    settings = get_settings()
    client = sqs_client(settings)
    events = Queue(client, settings.events_queue)
    dead_letters = DeadLetters(Queue(client, settings.dead_letter_queue))
    # Fail at start, with the queue's name, rather than in a retry loop.
    _ = events.url, dead_letters.queue.url
    publisher = CeleryPublisher()
    heartbeat = Heartbeat(settings.health_file)
    bridges = [
        Bridge(events, dead_letters, publisher, options, heartbeat) for _ in range(concurrency)
    ]

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info(
            "%s: stopping after the current batch and its deletes", signal.Signals(signum).name
        )
        for each in bridges:
            each.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info(
        "bridge: %s -> celery queue %s (dead letters: %s), %d loop(s), deletes batched within "
        "%g s%s%s",
        events.name, settings.task_queue, dead_letters.queue.name, concurrency,
        options.delete_delay_seconds,
        f", batch window {batch_window:g} s" if batch_window else "",
        ", draining" if drain else "",
    )  # fmt: skip
    try:
        stats = run_threads(bridges)
    finally:
        heartbeat.stop()
        publisher.close()
    logger.info("bridge stopped: %s", stats.summary())
    if any(each.unfinished is not None for each in bridges):
        raise click.exceptions.Exit(1)
