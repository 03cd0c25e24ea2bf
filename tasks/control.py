# kombu is untyped: every call into the class this module extends would need an ignore.
# mypy: disable-error-code="no-untyped-call"
"""Remote control for workers that may share a node name: one control queue per process.

kombu names a worker's control queue after its node name only (``<node>.<ns>.pidbox``).
Two workers started with the same name (the default ``celery@<host>`` twice on one host)
consumed one SQS queue, and the first to stop cleanly deleted it under the other, which
then died with ``QueueDoesNotExist``. Here the queue also carries the process id, so a
worker only ever deletes its own; commands still reach every worker through the fanout
topic, and replies go by node name as before. A worker that finds another live one
answering to its name says so once at start.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import kombu
from celery.app.control import Control
from kombu.pidbox import Mailbox

from s3meta.errors import ConfigError

logger = logging.getLogger(__name__)

# Mirrors kombu.pidbox.Mailbox.get_queue(hostname) of these releases.
KOMBU_SERIES = ((5, 7), (5, 8))
# How long a starting worker waits for another answering to its name. Best effort: a twin
# slower than this goes unreported, and every start waits this long.
DUPLICATE_PING_TIMEOUT = 1.0


def check_kombu(version: str) -> None:
    """Raise ``ConfigError`` unless ``version`` is a kombu release this module mirrors."""
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    low, high = KOMBU_SERIES
    if not low <= major_minor < high:
        raise ConfigError(
            f"tasks.control mirrors kombu {low[0]}.{low[1]}.x's pidbox Mailbox, "
            f"found kombu {version}: re-check ProcessMailbox.get_queue"
        )


check_kombu(kombu.__version__)


class ProcessMailbox(Mailbox):
    """kombu's mailbox with the process id in each worker's control queue name."""

    def get_queue(self, hostname: str) -> Any:
        return super().get_queue(f"{hostname}.{os.getpid()}")


class ProcessControl(Control):  # type: ignore[misc]
    """Celery's remote control client on ``ProcessMailbox``."""

    Mailbox = ProcessMailbox


def warn_on_duplicate_name(app: Any, hostname: str) -> bool:
    """Ping ``hostname`` before this worker listens; warn and return True if one answers.

    Runs before the worker's event loop exists: kombu's SQS channels share that loop's
    HTTP client, which is not safe to use from another thread.
    """
    try:
        # A connection of its own: closing it deletes the ping's reply queue (SQS has no
        # auto-delete), which the app's pooled connections would keep for the worker's life.
        with app.connection_for_write() as connection:
            if not connection.supports_exchange_type("fanout"):
                return False
            replies = app.control.ping(
                destination=[hostname],
                timeout=DUPLICATE_PING_TIMEOUT,
                limit=1,
                connection=connection,
            )
    except Exception as exc:  # noqa: BLE001 - a check at start must not stop the worker
        logger.info("could not check for other workers named %s: %s", hostname, exc)
        return False
    if not any(hostname in reply for reply in replies or ()):
        return False
    logger.warning(
        "another live worker has the same node name %s: commands for it reach both, and "
        "Flower shows them as one; give each worker its own name with --hostname (for "
        "example --hostname worker2@%%h)",
        hostname,
    )
    return True
