"""``tasks.log_filters``: an unreachable database is one line; other errors keep their
traceback; Celery does not repeat a failure the task declared expected."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import exc as sa_exc

from s3meta.logs import TextFormatter
from tasks.log_filters import TRACE_LOGGER, ExpectedFailureFilter, OneLineDatabaseErrors


class DriverError(Exception):
    """What a DB-API driver raises, with MySQL's error number first."""


REFUSED = (2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")


def record_for(error: BaseException, message: str = "Failed operation _store_result.") -> str:
    try:
        raise error
    except BaseException:
        record = logging.LogRecord("celery.backends.base", logging.WARNING, __file__, 1,
                                   message, None, sys.exc_info())  # fmt: skip
    OneLineDatabaseErrors().filter(record)
    return TextFormatter().format(record)


def refused() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, DriverError(*REFUSED))


def test_a_refused_connection_is_logged_as_one_line_with_its_reason() -> None:
    text = record_for(refused())

    assert "\n" not in text
    assert text.endswith("Failed operation _store_result: database unavailable: " + str(REFUSED))


def test_an_error_caused_by_a_refused_connection_is_one_line_too() -> None:
    try:
        try:
            raise refused()
        except sa_exc.OperationalError as exc:
            raise RuntimeError("failed to store result on the backend") from exc
    except RuntimeError as outer:
        text = record_for(outer, "Pool callback raised exception")

    assert "\n" not in text
    assert "Can't connect to MySQL server" in text


def test_other_database_errors_keep_their_traceback() -> None:
    error = sa_exc.IntegrityError("INSERT", {}, DriverError(1048, "bucket null"))

    assert "Traceback" in record_for(error)


def test_celerys_warning_about_an_unstored_result_loses_its_embedded_traceback() -> None:
    message = (
        "trace.py:809: RuntimeWarning: Exception raised outside body: BackendStoreError("
        "'failed to store result on the backend') state:RETRY task_id:abc:\n"
        "Traceback (most recent call last):\n  File ...\n"
    )
    record = logging.LogRecord("py.warnings", logging.WARNING, __file__, 1, "%s", (message,), None)
    OneLineDatabaseErrors().filter(record)

    assert record.getMessage() == message.partition("\n")[0].rstrip(":")


@pytest.fixture
def trace_records(caplog: pytest.LogCaptureFixture) -> Any:
    """Celery's task-trace log records, with s3meta's filter on that logger as in a worker."""
    trace_logger = logging.getLogger(TRACE_LOGGER)
    expected_filter = ExpectedFailureFilter()
    trace_logger.addFilter(expected_filter)
    caplog.set_level(logging.INFO, logger=TRACE_LOGGER)
    yield lambda: [each for each in caplog.records if each.name == TRACE_LOGGER]
    trace_logger.removeFilter(expected_filter)


def _failing_task(throws: tuple[type[Exception], ...]) -> Any:
    app = Celery("filter-test", set_as_current=False)

    @app.task(throws=throws)  # type: ignore[untyped-decorator]
    def fail() -> None:
        raise LookupError("s3://bucket/key: denied")

    return fail


def test_celerys_line_for_an_expected_failure_is_dropped(trace_records: Any) -> None:
    result = _failing_task((LookupError,)).apply()

    assert result.failed()
    assert trace_records() == []


def test_an_unexpected_failure_keeps_celerys_line_and_traceback(trace_records: Any) -> None:
    result = _failing_task(()).apply()

    assert result.failed()
    (record,) = trace_records()
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
