"""A task's Celery result stored with its rows (``ResultRows``, ``DatabaseResults``), on SQLite
and MariaDB: the row Celery's own backend would write, read back by Celery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from celery import Celery, states
from celery.app.task import Context

from db.engine import writer_engine
from db.store import MetadataStore
from s3meta.compat.celery import DatabaseResults
from s3meta.compat.celery_results import ResultRows, celery_taskmeta
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.transitions import Change

VALUE = {"bucket": "bucket-a", "key": "k", "outcome": "succeeded", "attempt": 1}
ARGS = ("bucket-a", "k")
KWARGS = {"event_name": "ObjectCreated:Put", "sequencer": "00A1"}


@pytest.fixture
def backend(database_url: str) -> Iterator[DatabaseResults]:
    app = Celery("results-test", loader="s3meta.compat.celery:Loader", set_as_current=False)
    app.conf.update(
        result_backend=f"db+{database_url}",
        result_extended=True,
        database_create_tables_at_setup=False,
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
    )
    backend = app.backend
    assert isinstance(backend, DatabaseResults)
    backend.session_manager.forked = True  # keep its engine, as a pool child does
    yield backend
    backend.session_manager.invalidate(backend.url)


@pytest.fixture
def store(database_url: str) -> Iterator[MetadataStore]:
    engine = writer_engine(database_url)
    yield MetadataStore(engine, ResultRows())
    engine.dispose()


def request(task_id: str, retries: int = 0) -> Context:
    """A worker's request for ``task_id``, as Celery's trace hands it to the backend."""
    return Context(
        id=task_id,
        task="s3meta.extract_metadata",
        args=ARGS,
        kwargs=KWARGS,
        hostname="worker@node",
        retries=retries,
        delivery_info={"exchange": "", "routing_key": "s3meta-tasks"},
    )


def store_with_rows(
    store: MetadataStore, backend: DatabaseResults, task_id: str, value: Any = VALUE
) -> None:
    """What the task does: its rows and its result in one transaction."""
    state = ObjectState("bucket-a", "k", size=1, etag="e", last_modified=datetime.now(UTC))
    change = Change("bucket-a", "k", state, EventInfo(), datetime.now(UTC), task_id)
    store.apply(change, result=lambda _: backend.success_record(request(task_id), value))


def row(backend: DatabaseResults, task_id: str) -> dict[str, Any]:
    engine = sa.create_engine(backend.url)
    try:
        with engine.connect() as connection:
            query = sa.select(celery_taskmeta).where(celery_taskmeta.c.task_id == task_id)
            return dict(connection.execute(query).one()._mapping)
    finally:
        engine.dispose()


def test_a_result_stored_with_the_tasks_rows_is_the_row_celerys_backend_writes(
    store: MetadataStore, backend: DatabaseResults
) -> None:
    backend.store_result("by-celery", VALUE, states.SUCCESS, request=request("by-celery"))
    store_with_rows(store, backend, "by-task")

    celerys, ours = row(backend, "by-celery"), row(backend, "by-task")

    moments = {"id", "task_id", "date_done"}
    assert {k: v for k, v in ours.items() if k not in moments} == {
        k: v for k, v in celerys.items() if k not in moments
    }
    assert isinstance(ours["date_done"], datetime)
    assert ours["status"] == states.SUCCESS


def test_celery_reads_a_result_the_task_stored(
    store: MetadataStore, backend: DatabaseResults
) -> None:
    store_with_rows(store, backend, "by-task")

    result = backend.app.AsyncResult("by-task")

    assert result.get(timeout=10) == VALUE
    assert (result.name, result.args, result.kwargs) == (
        "s3meta.extract_metadata",
        list(ARGS),
        KWARGS,
    )
    assert (result.worker, result.queue, result.retries) == ("worker@node", "s3meta-tasks", 0)


def test_a_stored_success_is_not_replaced_by_a_later_run(
    store: MetadataStore, backend: DatabaseResults
) -> None:
    store_with_rows(store, backend, "t", {"run": 1})
    store_with_rows(store, backend, "t", {"run": 2})
    backend.store_result("c", {"run": 1}, states.SUCCESS, request=request("c"))
    store_with_rows(store, backend, "c", {"run": 2})

    assert backend.get_task_meta("t")["result"] == {"run": 1}
    assert backend.get_task_meta("c")["result"] == {"run": 1}


def test_the_success_of_a_retried_task_replaces_its_retry_row(
    store: MetadataStore, backend: DatabaseResults
) -> None:
    backend.mark_as_retry("t", ValueError("throttled"), traceback="tb", request=request("t"))
    assert backend.get_task_meta("t")["status"] == states.RETRY

    store_with_rows(store, backend, "t")

    meta = backend.get_task_meta("t")
    assert (meta["status"], meta["result"], meta["traceback"]) == (states.SUCCESS, VALUE, None)


def test_celerys_own_rows_and_the_tasks_take_ids_that_do_not_collide(
    store: MetadataStore, backend: DatabaseResults
) -> None:
    backend.store_result("first", VALUE, states.SUCCESS, request=request("first"))
    store_with_rows(store, backend, "second")
    backend.store_result("third", VALUE, states.SUCCESS, request=request("third"))

    ids = [row(backend, task_id)["id"] for task_id in ("first", "second", "third")]

    assert ids == sorted(ids)
    assert len(set(ids)) == 3


def test_celery_writes_no_success_the_task_said_it_stored_and_every_other_state(
    backend: DatabaseResults,
) -> None:
    stored, failed = request("stored"), request("failed")
    for each in (stored, failed):
        DatabaseResults.stored_by_task(each)

    backend.mark_as_done("stored", VALUE, request=stored)
    backend.mark_as_failure("failed", ValueError("bad"), traceback="tb", request=failed)
    backend.mark_as_done("not-stored", VALUE, request=request("not-stored"))

    assert backend.get_task_meta("stored")["status"] == states.PENDING
    assert backend.get_task_meta("failed")["status"] == states.FAILURE
    assert backend.get_task_meta("not-stored")["result"] == VALUE
