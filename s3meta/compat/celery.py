"""Celery's private code s3meta relies on; written against Celery 5.7 (pinned ``<5.8``)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any, ClassVar

import click
from celery import Celery, concurrency, signals, states
from celery.app.amqp import AMQP
from celery.app.control import Control
from celery.app.task import Task, get_actual_ignore_result
from celery.backends.base import BaseBackend
from celery.backends.database import DatabaseBackend
from celery.bin.worker import WorkersPool
from celery.loaders.app import AppLoader
from celery.loaders.base import BaseLoader
from celery.utils.saferepr import saferepr

from s3meta.compat import Mirrored, require
from s3meta.compat.celery_results import RESULT_TABLE
from s3meta.compat.kombu import ProcessMailbox
from s3meta.domain.records import TaskResultRecord

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


# Where a value someone gave comes from (not the option's default).
_GIVEN = frozenset({click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT})


class ExplicitPool(WorkersPool):  # type: ignore[misc]
    """``celery worker --pool prefork`` runs prefork even where the app's ``worker_pool``
    names another pool.

    Celery 5.7 takes ``prefork`` for its option's default and replaces it by the configured
    pool, given or not: with ``worker_pool = "threads"`` (``tasks.app``) nobody could ask for
    prefork. A pool given on the command line (or through click's environment) now wins.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(WorkersPool, "convert", ("self", "value", "param", "ctx")),
        Mirrored("celery.bin.worker", "WORKERS_POOL"),
        Mirrored("celery.concurrency", "get_implementation", ("cls",)),
    )

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        given = ctx is not None and param is not None and isinstance(value, str)
        source = ctx.get_parameter_source(param.name) if given else None
        if source in _GIVEN:
            name: str = click.Choice.convert(self, value, param, ctx)
            return concurrency.get_implementation(name)
        return super().convert(value, param, ctx)


def honour_explicit_pool() -> None:
    """Make the ``celery worker`` command's ``--pool`` an ``ExplicitPool``, if it is loaded
    (``celery -A tasks worker`` imports the command before the app)."""
    module = sys.modules.get("celery.bin.worker")
    command = getattr(module, "worker", None)
    for option in getattr(command, "params", ()):
        if option.name == "pool" and not isinstance(option.type, ExplicitPool):
            option.type = ExplicitPool()


class DatabaseResults(DatabaseBackend):  # type: ignore[misc]
    """Celery's database result backend, but a task may store its SUCCESS row itself, in the
    transaction that writes its other rows (``recorder``); Celery then writes it no more.

    Every other write (FAILURE, RETRY, STARTED, groups) and every read is Celery's own.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        # Overridden: SUCCESS skipped when the task stored it.
        Mirrored(
            BaseBackend,
            "mark_as_done",
            ("self", "task_id", "result", "request", "store_result", "state"),
        ),
        # Called, as Celery's store_result calls them, for the values of the row.
        Mirrored(BaseBackend, "encode_result", ("self", "result", "state")),
        Mirrored(
            DatabaseBackend,
            "_update_result",
            ("self", "task", "result", "state", "traceback", "request"),
        ),
        # Its rule, kept by ResultRows: a row at SUCCESS is not replaced.
        Mirrored(
            DatabaseBackend,
            "_store_result",
            ("self", "task_id", "result", "state", "traceback", "request", "kwargs"),
        ),
        Mirrored(DatabaseBackend, "task_cls"),
        Mirrored("celery.app.task", "get_actual_ignore_result", ("task", "req")),
    )

    def recorder(self, task: Task, database_url: str) -> Callable[[Any], TaskResultRecord] | None:
        """The record of ``task``'s SUCCESS for the request it runs, to be stored with the
        task's rows in the database at ``database_url``; None where Celery would store no
        result (results ignored, an eager call) or not there (another database, or tables
        of other names), and Celery writes its own."""
        request = task.request
        if request.is_eager or get_actual_ignore_result(task, request):
            return None
        table = self.task_cls.__table__
        if self.url != database_url or table.name != RESULT_TABLE or table.schema is not None:
            return None
        return lambda value: self.success_record(request, value)

    def success_record(self, request: Any, value: Any) -> TaskResultRecord:
        """The row Celery's ``store_result(request.id, value, SUCCESS, request=request)``
        would write, with its values encoded by Celery's own code."""
        # _update_result sets every column of Celery's table but these two only if present.
        row = SimpleNamespace(children=None, stamps=None)
        self._update_result(
            row, self.encode_result(value, states.SUCCESS), states.SUCCESS, request=request
        )
        columns: dict[str, Any] = {name: getattr(row, name, None) for name in _RESULT_COLUMNS}
        return TaskResultRecord(task_id=request.id, **columns)

    @staticmethod
    def stored_by_task(request: Any) -> None:
        """Say that ``request``'s task stored its SUCCESS row: ``mark_as_done`` skips it."""
        setattr(request, _STORED_BY_TASK, True)

    def mark_as_done(
        self,
        task_id: str,
        result: Any,
        request: Any = None,
        store_result: bool = True,
        state: str = states.SUCCESS,
    ) -> None:
        if state == states.SUCCESS and getattr(request, _STORED_BY_TASK, False):
            store_result = False
        super().mark_as_done(task_id, result, request, store_result, state)


_STORED_BY_TASK = "s3meta_result_stored_by_task"
_RESULT_COLUMNS = tuple(field.name for field in fields(TaskResultRecord) if field.name != "task_id")


class Loader(AppLoader):  # type: ignore[misc]
    """Celery's loader, with ``db+URL`` result backends made ``DatabaseResults``."""

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(BaseLoader, "override_backends"),
        Mirrored("celery.app.backends", "by_url", ("backend", "loader")),
        Mirrored("celery.app.backends", "BACKEND_ALIASES"),
    )

    override_backends: ClassVar[dict[str, str]] = {"db": "s3meta.compat.celery:DatabaseResults"}


# Celery's task message (protocol 2) as ``AMQP.as_task_v2`` builds it and ``Celery.send_task``
# gives it the thread's reply-to oid: what differs between two calls of one task made with
# the same options (``TaskCalls``), and what else publishing does (``restamp_blockers``).
_AS_TASK_V2 = """self task_id name args kwargs countdown eta group_id group_index expires retries
    chord callbacks errbacks reply_to time_limit soft_time_limit create_sent_event root_id
    parent_id shadow chain now timezone origin ignore_result argsrepr kwargsrepr stamped_headers
    replaced_task_nesting options"""
TASK_MESSAGE_MIRRORS = (
    Mirrored(AMQP, "as_task_v2", tuple(_AS_TASK_V2.split())),
    Mirrored(AMQP, "argsrepr_maxsize"),
    Mirrored(AMQP, "kwargsrepr_maxsize"),
    Mirrored("celery.utils.saferepr", "saferepr", ("o", "maxlen", "maxlevels", "seen")),
    # How saferepr renders strings and numbers, which ``argument_repr`` does quicker.
    Mirrored("celery.utils.saferepr", "_format_chars", ("val", "maxlen")),
    Mirrored(
        "celery.utils.saferepr", "reprstream", ("stack", "seen", "maxlevels", "level", "isinstance")
    ),
    Mirrored("celery.utils.saferepr", "safe_t"),
    Mirrored("celery.utils.text", "truncate", ("s", "maxlen", "suffix")),
    Mirrored(Celery, "thread_oid", ("self",)),
    Mirrored(Celery, "current_worker_task", ("self",)),
    Mirrored("celery.signals", "before_task_publish"),
    Mirrored("celery.signals", "after_task_publish"),
    Mirrored("celery.signals", "task_sent"),
)
# Headers a prototype call must leave empty: set, they would differ between calls (or,
# for kombu's compression, the payload could not be rebuilt).
_UNSHARED_HEADERS = ("eta", "expires", "parent_id", "group", "group_index", "shadow", "compression")
_PUBLISH_SIGNALS = ("before_task_publish", "after_task_publish", "task_sent")


@dataclass(frozen=True)
class TaskMessage:
    """Celery's parts of a task message: headers, properties and the body to serialize."""

    headers: dict[str, Any]
    properties: dict[str, Any]
    body: tuple[Any, ...]  # (args, kwargs, embed): callbacks, errbacks, chain, chord


class TaskCalls:
    """Celery's messages for calls of one task, made from one Celery built (``prototype``).

    Two calls made with the same options differ only in the task id, the arguments and
    their reprs, and the calling thread's reply-to oid, provided ``blockers`` is empty.
    """

    def __init__(self, app: Celery, prototype: TaskMessage) -> None:
        self._app = app
        self._prototype = prototype
        self._args_max = app.amqp.argsrepr_maxsize
        self._kwargs_max = app.amqp.kwargsrepr_maxsize
        self._levels = app.conf.task_repr_maxlevels
        self.blockers = restamp_blockers(app, prototype)

    def message(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskMessage:
        """The message Celery would build for ``task_id``'s call with ``args`` and ``kwargs``."""
        prototype = self._prototype
        headers = {
            **prototype.headers,
            "id": task_id,
            "root_id": task_id,
            "argsrepr": argument_repr(args, self._args_max, self._levels),
            "kwargsrepr": argument_repr(kwargs, self._kwargs_max, self._levels),
        }
        properties = {
            **prototype.properties,
            "correlation_id": task_id,
            "reply_to": self._app.thread_oid,
        }
        return TaskMessage(headers, properties, (args, kwargs, prototype.body[2]))


def restamp_blockers(app: Celery, prototype: TaskMessage) -> list[str]:
    """Why ``TaskCalls`` would not give what Celery's publishing does; empty if nothing.

    Receivers of the publish signals and sent events expect a call per task; a parent task,
    an eta, an expiry, a group or a shadow name make headers that differ between calls;
    a compressed payload is not rebuilt.
    """
    found = [
        f"celery.signals.{name} has receivers"
        for name in _PUBLISH_SIGNALS
        if getattr(signals, name).receivers
    ]
    if app.conf.task_send_sent_event:
        found.append("task_send_sent_event is on")
    if app.current_worker_task is not None:
        found.append("it runs inside a task")
    found += [
        f"the task's {name} header is set"
        for name in _UNSHARED_HEADERS
        if prototype.headers.get(name) is not None
    ]
    return found


def argument_repr(value: object, maxlen: int | None, maxlevels: int) -> str:
    """``saferepr(value, maxlen, maxlevels=maxlevels)``, a third of the time for the arguments
    of a task call: a tuple or dict of strings, numbers and None, shorter than ``maxlen``.

    saferepr quotes strings with ``'``, escaping only ``'``, and shows numbers with ``str``;
    an output shorter than ``maxlen`` is never truncated, and one level is never too deep.
    """
    quick = _flat_repr(value)
    if quick is None or (maxlen is not None and len(quick) >= maxlen):
        return str(saferepr(value, maxlen, maxlevels=maxlevels))
    return quick


def _flat_repr(value: object) -> str | None:
    """saferepr's untruncated rendering of a flat tuple or dict; None for anything else."""
    if type(value) is tuple:
        items = [_scalar_repr(item) for item in value]
        if None in items:
            return None
        inner = ", ".join(items)  # type: ignore[arg-type]
        return f"({inner},)" if len(items) == 1 else f"({inner})"
    if type(value) is dict:
        pairs = []
        for key, item in value.items():
            shown_key, shown = _scalar_repr(key), _scalar_repr(item)
            if shown_key is None or shown is None:
                return None
            pairs.append(f"{shown_key}: {shown}")
        return "{" + ", ".join(pairs) + "}"
    return None


def _scalar_repr(value: object) -> str | None:
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    if value is None:
        return "None"
    if isinstance(value, int | float):  # saferepr's ``safe_t`` (Number) shown with str
        return str(value)
    return None
