"""Flower's private code s3meta overrides; written against Flower 2.2 (pinned ``<2.3``).

Imported only by the process that starts Flower (``s3meta.monitor.command``).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any

import flower.command
import flower.events
import flower.views

from s3meta.compat import Mirrored, replace, require

SERIES = ((2, 2), (2, 3))
VERSION = require("flower", SERIES, "s3meta.compat.flower")

logger = logging.getLogger(__name__)

_PATCHED = "_s3meta_patched"

# flower/command.py: the command's callback sets tornado's global ``options`` from FLOWER_*
# variables, the --conf file and the command line, in that order, then calls
# ``extract_settings``; the option names below are the ones s3meta sets.
COMMAND_MIRRORS = (
    Mirrored(flower.command, "extract_settings", ()),
    Mirrored(flower.command, "options"),
)
OPTION_NAMES = ("address", "persistent", "enable-events", "basic-auth")


def options() -> Any:
    """tornado's global options, which Flower's command fills and reads."""
    return flower.command.options


def check_settings_first(check: Callable[[], None]) -> None:
    """Run ``check()`` each time Flower extracts its settings, before it does (idempotent).

    ``extract_settings`` runs after every source of options was read, so what ``check``
    sees is what Flower would serve with.
    """
    extract = flower.command.extract_settings
    if getattr(extract, _PATCHED, False):
        return

    @functools.wraps(extract)
    def checked_extract_settings() -> None:
        check()
        extract()

    setattr(checked_extract_settings, _PATCHED, True)
    replace(flower.command, "extract_settings", checked_extract_settings)


# flower/views/__init__.py calls the module-level name ``Broker`` for the broker page and
# ``/api/queues/length``; Flower's own clients speak to RabbitMQ and Redis only.
BROKER_MIRRORS = (Mirrored(flower.views, "Broker"),)


def replace_broker_factory(factory: Callable[..., Any]) -> None:
    """Make Flower build its broker clients with ``factory(broker_url, *args, **kwargs)``."""
    replace(flower.views, "Broker", factory)


# Flower's ``Events.run`` loops forever in a daemon thread that dies with the process inside
# ``with connection``: a monitor's event queue was never deleted, and SQS has no auto-delete.
EVENTS_MIRRORS = (
    Mirrored(flower.events.Events, "run", ("self",)),
    Mirrored(flower.events.Events, "stop", ("self",)),
    Mirrored(flower.events.Events, "on_event", ("self", "event")),
)
# How long Flower's exit waits for the event capture to close its connection.
RELEASE_TIMEOUT = 10.0


def make_event_capture_stoppable() -> None:
    """Make Flower's event capture end, closing its connection, when Flower stops."""
    events = flower.events.Events
    if getattr(events, _PATCHED, False):
        return
    replace(events, "run", _capture_until_stopped)
    replace(events, "stop", _stop_and_release(events.stop))
    setattr(events, _PATCHED, True)


def _stopping(events: Any) -> threading.Event:
    found: threading.Event | None = getattr(events, "_s3meta_stopping", None)
    if found is None:
        found = threading.Event()
        events._s3meta_stopping = found
    return found


def _capture_until_stopped(events: Any) -> None:
    """Flower's ``Events.run``, but ending when Flower stops (checked every second)."""
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
            events.join(timeout=RELEASE_TIMEOUT)

    return stop_and_release
