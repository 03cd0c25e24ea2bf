"""Logging for s3meta's long-running commands and workers: text or JSON, secrets masked.

Every line goes through ``s3meta.masking.redact``: URL passwords become ``***`` and so does
every value registered as a secret (AWS secret keys, database passwords). While a Celery task
runs, each line also carries its task id and name and, for ``extract_metadata``, the bucket
and key (``enter_task`` / ``leave_task``, called from Celery's task signals).
"""

from __future__ import annotations

import ast
import contextvars
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from s3meta.config import Settings, get_settings
from s3meta.domain.terminal import printable
from s3meta.masking import redact, register_secret, url_password

EXTRACT_TASK = "s3meta.extract_metadata"
HANDLER_NAME = "s3meta"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "kombu")
TASK_FIELDS = ("task_id", "task_name", "bucket", "key")


def register_settings_secrets(settings: Settings) -> None:
    """Mask the AWS secret key, session token and the passwords in the settings' URLs."""
    for secret in (settings.aws_secret_access_key, settings.aws_session_token):
        if secret is not None:
            register_secret(secret.get_secret_value())
    for url in (settings.database_url, settings.result_backend, settings.broker_url):
        register_secret(url_password(url))


@dataclass(frozen=True)
class TaskContext:
    """The task a line was logged in."""

    task_id: str
    task_name: str | None = None
    bucket: str | None = None
    key: str | None = None

    def fields(self) -> dict[str, str]:
        """The fields that are known, by record attribute."""
        values = {
            "task_id": self.task_id,
            "task_name": self.task_name,
            "bucket": self.bucket,
            "key": self.key,
        }
        return {name: value for name, value in values.items() if value is not None}


# A contextvar, so that each thread of a thread pool has its own task.
_current_task: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "s3meta_task", default=None
)


def task_context_for(
    task_id: str, task_name: str | None, args: Any = (), kwargs: Any = None
) -> TaskContext:
    """The context of a task call; bucket and key are read from ``extract_metadata``'s."""
    bucket = key = None
    if task_name == EXTRACT_TASK:
        args = tuple(args) if isinstance(args, list | tuple) else ()
        kwargs = kwargs if isinstance(kwargs, Mapping) else {}
        bucket = args[0] if len(args) > 0 else kwargs.get("bucket")
        key = args[1] if len(args) > 1 else kwargs.get("key")
    return TaskContext(
        task_id=str(task_id),
        task_name=task_name,
        bucket=bucket if isinstance(bucket, str) else None,
        key=key if isinstance(key, str) else None,
    )


def enter_task(context: TaskContext) -> None:
    """Tag the lines this thread logs from now on with ``context``."""
    _current_task.set(context)


def leave_task() -> None:
    """Stop tagging this thread's lines: its task is over."""
    _current_task.set(None)


def current_task() -> TaskContext | None:
    """The task running in this thread, if any."""
    return _current_task.get()


@contextmanager
def task_context(context: TaskContext) -> Iterator[None]:
    """Lines logged inside carry ``context``."""
    token = _current_task.set(context)
    try:
        yield
    finally:
        _current_task.reset(token)


class TaskContextFilter(logging.Filter):
    """Copies the running task's id, name, bucket and key onto each record.

    Celery's "Task ... received" line is logged by the worker's main process, outside any
    task: its context comes from the ``data`` Celery attaches to that record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current_task.get() or _context_from_celery_data(record)
        if context is not None:
            for name, value in context.fields().items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


def _context_from_celery_data(record: logging.LogRecord) -> TaskContext | None:
    data = getattr(record, "data", None)
    if not isinstance(data, Mapping) or not data.get("id"):
        return None
    name = data.get("name")
    return task_context_for(
        str(data["id"]),
        name if isinstance(name, str) else None,
        _literal(data.get("args")),
        _literal(data.get("kwargs")),
    )


def _literal(text: Any) -> Any:
    """A Python literal from Celery's argument repr; None when it is cut short or not one."""
    if not isinstance(text, str) or len(text) > 10_000:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


class TextFormatter(logging.Formatter):
    """One line per record, ``[task_id s3://bucket/key]`` at the end within a task; masked.

    Control characters from keys and messages are escaped (``printable``): a key could
    otherwise recolour the reader's terminal or forge a log line. Only a traceback keeps
    its line breaks, each of its lines escaped.
    """

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(printable(line) for line in super().formatException(ei).splitlines())

    def formatStack(self, stack_info: str) -> str:
        return "\n".join(printable(line) for line in stack_info.splitlines())

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        task_id = getattr(record, "task_id", None)
        if task_id:
            bucket, key = getattr(record, "bucket", None), getattr(record, "key", None)
            where = printable(f" s3://{bucket}/{key}") if bucket and key is not None else ""
            first, newline, rest = text.partition("\n")
            text = f"{first} [{task_id}{where}]{newline}{rest}"
        return redact(text)


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, process,
    thread, and the task fields within a task; every string masked."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(process)s %(threadName)s",
            rename_fields={"levelname": "level", "name": "logger", "threadName": "thread"},
            # Celery's "data" repeats the message's task name, id and arguments.
            reserved_attrs=[*RESERVED_ATTRS, "data"],
            timestamp="time",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        ordered = {"time": log_data.pop("time", None)}
        ordered.update(log_data)
        return {name: _masked(value) for name, value in ordered.items()}


def _masked(value: Any) -> Any:
    """``value`` with every string in it redacted; objects become redacted strings."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float | datetime | date | time):
        return value
    if isinstance(value, Mapping):
        return {str(name): _masked(item) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(item) for item in value]
    return redact(str(value))


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def configure_logging(
    level: int | str = logging.INFO,
    *,
    settings: Settings | None = None,
    logfile: str | None = None,
    worker: bool = False,
) -> None:
    """Send every log line to stderr (or ``logfile``) in ``settings.log_format``, masked.

    Calling it again replaces what it set up before. botocore's, boto3's, urllib3's and
    kombu's chatter is kept at warnings, and Celery's too unless ``worker`` (a worker's own
    lines, such as "ready." and "Task ... succeeded", are what its operators read).
    """
    settings = settings or get_settings()
    register_settings_secrets(settings)
    handler: logging.Handler = (
        logging.FileHandler(logfile, encoding="utf-8") if logfile else _StderrHandler()
    )
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonLogFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(TaskContextFilter())
    root = logging.getLogger()
    for previous in [each for each in root.handlers if each.get_name() == HANDLER_NAME]:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("celery").setLevel(level if worker else logging.WARNING)
