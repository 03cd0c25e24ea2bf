"""Workers that share a node name: a warning at start.

Each worker process has its own control queue (``s3meta.compat.kombu.ProcessMailbox``), so a
twin never deletes another's; commands for that name still reach both, and Flower shows
them as one, which is what the warning is about.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

# How long a starting worker waits for another answering to its name. Best effort: a twin
# slower than this goes unreported, and every start waits this long.
DUPLICATE_PING_TIMEOUT = 1.0


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
