"""``s3meta relay``."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click

from s3meta.logs import configure_logging

logger = logging.getLogger("s3meta.relay")


@click.command()
@click.option("--drain", is_flag=True, help="Exit once no change is left to publish.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Relay loops in this process; each publishes a round of up to --round-size changes "
    "at a time.",
)
@click.option(
    "--round-size",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Outbox rows a round claims (and holds locked while it publishes them).",
)
@click.option(
    "--idle-wait",
    type=click.FloatRange(0.01, 60),
    default=1.0,
    show_default=True,
    help="Seconds between looks at an empty outbox.",
)
def relay(drain: bool, concurrency: int, round_size: int, idle_wait: float) -> None:
    """Publish the change feed: every applied change to S3META_CHANGE_TOPIC.

    Each change (journal entry) committed while S3META_CHANGE_TOPIC was set waits in the
    database's outbox until a relay publishes it: at least once, in commit order per key.
    Several relays may run at once. SIGTERM or SIGINT stops it after the round at hand.
    """
    from s3meta import composition
    from s3meta.cli.errors import one_line_errors
    from s3meta.config import get_settings
    from s3meta.health import Heartbeat
    from s3meta.relay import Relay, RelayStats, run_threads

    with one_line_errors():
        settings = get_settings()
        outbox, publisher = composition.change_feed(settings)
    configure_logging()
    retries = composition.relay_retries(settings)
    stats = RelayStats()
    heartbeat = Heartbeat(settings.health_file)
    relays = [
        Relay(outbox, publisher, retries, round_size=round_size, drain=drain,
              idle_wait=idle_wait, stats=stats, heartbeat=heartbeat)
        for _ in range(concurrency)
    ]  # fmt: skip

    def stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("%s: stopping after the round at hand", signal.Signals(signum).name)
        for each in relays:
            each.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info(
        "relay: outbox -> %s%s, %d loop(s), rounds of %d%s",
        publisher.where, " (FIFO)" if publisher.target.fifo else "", concurrency, round_size,
        ", draining" if drain else "",
    )  # fmt: skip
    try:
        error = run_threads(relays)
    finally:
        heartbeat.stop()
    logger.info("relay stopped: %s", stats.summary())
    if error is not None:
        with one_line_errors():
            raise error
        raise error
