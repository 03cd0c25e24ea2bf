"""Liveness by heartbeat file: long-running processes touch it, ``s3meta health`` reads it.

A file rather than a probe of the process: asking a worker over the broker (``celery
inspect ping``) costs an SNS publish to every worker and a reply queue per check, and the
bridge has no port to ask. A process touches the file only from the loop that does its work,
so a wedged loop stops the touches and the file ages.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# How often a healthy process touches the file, at most; checks allow several times this.
TOUCH_INTERVAL = 10.0
DEFAULT_MAX_AGE = 60.0


class Heartbeat:
    """Touches ``path`` at most every ``interval`` seconds; ``None`` makes it do nothing."""

    def __init__(self, path: Path | None, interval: float = TOUCH_INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._last = float("-inf")

    def beat(self) -> None:
        """Record that the process is working; cheap enough to call on every loop."""
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            self.path.touch()
        except OSError as exc:
            # A health file that can't be written must not stop the work it reports on.
            logger.warning("could not touch the health file %s: %s", self.path, exc)

    def stop(self) -> None:
        """Remove the file, so that a process that stopped working is unhealthy at once."""
        if self.path is None:
            return
        self._last = float("-inf")
        self.path.unlink(missing_ok=True)


def check(path: Path, max_age: float, now: float | None = None) -> str | None:
    """Why the process behind ``path`` is unhealthy, or ``None`` if it touched it recently."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return f"{path} does not exist: the process is not running, or not working yet"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    age = (time.time() if now is None else now) - modified
    if age > max_age:
        return f"{path} was last touched {age:.0f} s ago (more than {max_age:g} s)"
    return None
