"""Celery's private code s3meta relies on; written against Celery 5.7 (pinned ``<5.8``)."""

from __future__ import annotations

from typing import ClassVar

from celery.app.control import Control

from s3meta.compat import Mirrored, require
from s3meta.compat.kombu import ProcessMailbox

SERIES = ((5, 7), (5, 8))
VERSION = require("celery", SERIES, "s3meta.compat.celery")

# The worker's requests in progress, read by a closing channel
# (``s3meta.compat.kombu.ReturnReservedOnClose``) so that it returns only unstarted ones.
RUNNING_MIRRORS = (Mirrored("celery.worker.state", "active_requests"),)


class ProcessControl(Control):  # type: ignore[misc]
    """Celery's remote control client on ``ProcessMailbox`` (one control queue per process).

    Celery builds its mailbox from the class attribute ``Mailbox``.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(Control, "Mailbox"),
        Mirrored(Control, "ping", ("self", "destination", "timeout", "kwargs")),
    )

    Mailbox = ProcessMailbox
