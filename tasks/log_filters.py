"""The worker's log filters: each failure one line, said once.

With the database away, every task attempt, every result write and each of Celery's own
result-store retries (``celery.backends.base``: "Failed operation … Retrying") logged a full
chained traceback, some 200 lines each and thousands a minute. The traceback says nothing the
driver's message does not, so these records keep their message and gain the reason instead.
A failure the task declared expected is logged by the task itself; Celery's line about it goes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from celery.app import trace
from sqlalchemy import exc as sa_exc

from db.errors import translate_database_error
from s3meta.errors import DatabaseUnavailable
from s3meta.logs import HANDLER_NAME

# billiard logs "Pool callback raised exception" here, with no handler of its own.
BILLIARD_LOGGER = "multiprocessing"
# Celery's trace (celery/app/trace.py, report_internal_error, 5.7) puts the traceback into
# the text of this RuntimeWarning itself; for a failed result write the backend's own
# lines already gave the reason.
_RESULT_NOT_STORED = "Exception raised outside body: BackendStoreError("
_MAX_CHAIN = 20
TRACE_LOGGER = trace.logger.name


def unavailable_reason(error: BaseException) -> str | None:
    """Why the database could not be reached, if ``error`` (or what caused it) says so."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < _MAX_CHAIN:
        if isinstance(current, DatabaseUnavailable):
            return str(current)
        if isinstance(current, sa_exc.DBAPIError | sa_exc.TimeoutError):
            translated = translate_database_error(current)
            return str(translated) if isinstance(translated, DatabaseUnavailable) else None
        current = current.__cause__ or current.__context__
        seen += 1
    return None


class OneLineDatabaseErrors(logging.Filter):
    """Replaces the traceback of a record about an unreachable database by its reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        reason = unavailable_reason(error) if error is not None else None
        if reason is not None:
            record.msg = f"{record.getMessage().rstrip('.')}: {reason}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        elif record.name == "py.warnings" and _RESULT_NOT_STORED in record.getMessage():
            first, _, _ = record.getMessage().partition("\n")
            record.msg = first.rstrip(":")
            record.args = None
        return True


class ExpectedFailureFilter(logging.Filter):
    """Drops Celery's line for a task failure the task declared expected (``Task.throws``).

    Such a task logs its own one line about the failure first, with the key and the reason;
    Celery's "raised expected" line would only repeat it. The record is recognised by the
    ``data`` Celery 5.x attaches to it (celery/app/trace.py ``TraceInfo._log_error``) and its
    policy's description; any other record, or one shaped differently, is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        data = getattr(record, "data", None)
        return not (
            isinstance(data, Mapping)
            and data.get("description") == trace.log_policy_expected.description
        )


def install() -> None:
    """Filter the lines of s3meta's log handler, send billiard's lines through it too, and
    drop Celery's repeat of expected failures."""
    trace_logger = logging.getLogger(TRACE_LOGGER)
    if not any(isinstance(each, ExpectedFailureFilter) for each in trace_logger.filters):
        trace_logger.addFilter(ExpectedFailureFilter())
    handlers = [each for each in logging.getLogger().handlers if each.get_name() == HANDLER_NAME]
    for handler in handlers:
        if not any(isinstance(each, OneLineDatabaseErrors) for each in handler.filters):
            handler.addFilter(OneLineDatabaseErrors())
    billiard = logging.getLogger(BILLIARD_LOGGER)
    for previous in [each for each in billiard.handlers if each.get_name() == HANDLER_NAME]:
        billiard.removeHandler(previous)
    for handler in handlers:
        billiard.addHandler(handler)
