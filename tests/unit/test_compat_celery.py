"""s3meta.compat.celery: the Celery code the control client, a closing channel, batched
task messages and the result backend rely on."""

from __future__ import annotations

from collections.abc import MutableSet
from types import SimpleNamespace

import click
from celery import Celery, Task
from celery.backends.database import DatabaseBackend
from celery.utils.saferepr import saferepr
from hypothesis import given, settings
from hypothesis import strategies as st

from s3meta.compat import celery as compat
from s3meta.compat import drifted, release
from s3meta.compat.celery_results import RESULT_TABLE


def test_the_celery_attributes_the_control_client_mirrors_are_unchanged() -> None:
    assert drifted(compat.ProcessControl.MIRRORS) == []


def test_the_worker_state_a_closing_channel_reads_is_still_there() -> None:
    from celery.worker import state

    assert drifted(compat.RUNNING_MIRRORS) == []
    assert isinstance(state.active_requests, MutableSet)


def test_the_running_celery_is_the_series_the_patches_mirror() -> None:
    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high


def test_the_celery_code_task_messages_are_made_like_is_unchanged() -> None:
    assert drifted(compat.TASK_MESSAGE_MIRRORS) == []


_SCALARS = st.one_of(st.text(), st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False))
_ARGUMENTS = st.one_of(
    st.lists(_SCALARS, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=8), _SCALARS, max_size=6),
    # Not flat: saferepr's own rendering.
    st.tuples(st.lists(st.integers(), max_size=2)),
    st.dictionaries(st.integers(), st.dictionaries(st.text(max_size=2), st.integers())),
)


@settings(max_examples=500, deadline=None)
@given(_ARGUMENTS, st.one_of(st.none(), st.integers(min_value=1, max_value=80)))
def test_an_argument_repr_is_celerys_saferepr(value: object, maxlen: int | None) -> None:
    assert compat.argument_repr(value, maxlen, 3) == saferepr(value, maxlen, maxlevels=3)


def test_the_celery_code_the_result_backend_overrides_and_calls_is_unchanged() -> None:
    assert drifted(compat.DatabaseResults.MIRRORS) == []


def test_the_celery_code_the_loader_relies_on_is_unchanged() -> None:
    assert drifted(compat.Loader.MIRRORS) == []


def test_celerys_task_table_is_the_one_the_results_are_written_to() -> None:
    assert DatabaseBackend.task_cls.__tablename__ == RESULT_TABLE


def results_app(url: str = "sqlite:///results.db", **conf: object) -> Celery:
    app = Celery("compat-test", loader="s3meta.compat.celery:Loader", set_as_current=False)
    app.conf.update(result_backend=f"db+{url}", database_create_tables_at_setup=False, **conf)
    return app


def test_a_db_result_backend_is_s3metas_database_results() -> None:
    assert type(results_app().backend) is compat.DatabaseResults


def recorder_of(app: Celery, url: str, **request: object) -> object:
    @app.task(name="t", bind=True)  # type: ignore[untyped-decorator]
    def task(self: Task) -> object:
        backend = self.backend
        assert isinstance(backend, compat.DatabaseResults)
        return backend.recorder(self, url)

    task.push_request(id="task-1", **request)
    try:
        return task.run()
    finally:
        task.pop_request()


def test_a_task_records_its_result_where_celery_would_store_it() -> None:
    assert recorder_of(results_app(), "sqlite:///results.db") is not None


def test_a_task_records_no_result_on_another_database() -> None:
    assert recorder_of(results_app(), "sqlite:///elsewhere.db") is None


def test_a_task_records_no_result_that_celery_would_not_store() -> None:
    assert recorder_of(results_app(), "sqlite:///results.db", ignore_result=True) is None
    assert recorder_of(results_app(), "sqlite:///results.db", is_eager=True) is None
    ignoring = results_app(task_ignore_result=True)
    assert recorder_of(ignoring, "sqlite:///results.db") is None


def pool_chosen(configured: str | None, *args: str) -> type:
    """The pool class ``celery worker`` gets from ``args`` with ``worker_pool`` configured."""
    command = click.Command("worker", params=[click.Option(["--pool"], default="prefork")])
    command.params[0].type = compat.ExplicitPool()
    app = Celery(set_as_current=False)
    app.conf.worker_pool = configured
    ctx = command.make_context("worker", list(args), obj=SimpleNamespace(app=app))
    chosen: type = ctx.params["pool"]
    return chosen


def test_a_pool_named_on_the_command_line_wins_over_the_configured_one() -> None:
    from celery.concurrency import prefork, solo, thread

    assert pool_chosen("threads", "--pool", "prefork") is prefork.TaskPool
    assert pool_chosen("threads", "--pool", "solo") is solo.TaskPool
    assert pool_chosen("threads") is thread.TaskPool
    assert pool_chosen(None) is prefork.TaskPool


def test_the_worker_commands_pool_option_honours_a_pool_named_on_it() -> None:
    from celery.bin.worker import worker

    compat.honour_explicit_pool()

    [option] = [param for param in worker.params if param.name == "pool"]
    assert isinstance(option.type, compat.ExplicitPool)


def test_the_celery_code_the_pool_option_overrides_is_unchanged() -> None:
    assert drifted(compat.ExplicitPool.MIRRORS) == []
