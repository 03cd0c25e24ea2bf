"""The Celery app: all of s3meta's Celery wiring, configured lazily from ``Settings``."""

from __future__ import annotations

from typing import Any

import click
from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun, worker_init, worker_shutdown

from db.engine import POOL_RECYCLE_SECONDS, connect_timeouts
from s3meta import logs
from s3meta.aws.clients import broker_url, region
from s3meta.compat.celery import honour_explicit_pool
from s3meta.compat.kombu import flush_pending_acks
from s3meta.config import Settings, get_settings
from s3meta.deployment.broker import CONTROL_EXCHANGE, EVENT_EXCHANGE, EVENT_QUEUE_PREFIX
from s3meta.errors import ConfigError
from s3meta.masking import redact
from s3meta.monitor.command import guard_flower_command
from tasks import log_filters, startup  # noqa: F401 - startup connects the start-up check
from tasks.control import warn_on_duplicate_name
from tasks.health import HealthFile

# Long polling keeps an idle worker cheap, but kombu's pycurl client gives up on any request
# after 20 s (AsyncHTTPSConnection's fixed timeout). A 20 s poll therefore times out at the
# client every time it finds nothing, and a message SQS hands to that abandoned poll stays
# invisible for the whole visibility timeout. Polls end well inside the client's timeout.
WAIT_TIME_SECONDS = 10
# The pool and its size when the command line names none (measured: README).
WORKER_POOL = "threads"
WORKER_CONCURRENCY = 8
# kombu's SQS transport, fixed so that one failed or timed-out receive does not stop a
# worker consuming for good (see the module).
SQS_TRANSPORT = "s3meta.compat.kombu:Transport"


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for s3meta: SQS broker, database results, JSON only, late acks.

    The result backend is the database as configured: a worker completes its URL from the
    secret at start (``tasks.startup``); processes that only send tasks never read it.
    """
    transport_options: dict[str, Any] = {
        "region": region(settings),
        "visibility_timeout": settings.visibility_timeout,
        "wait_time_seconds": WAIT_TIME_SECONDS,
        "polling_interval": settings.broker_polling_interval,
        # s3meta.compat.kombu.BatchedAcks: acks' deletes ten to a request.
        "ack_batch_delay": settings.ack_batch_delay,
        # s3meta.compat.kombu.ReadReceiveOnCancel: a stopping worker's poll in flight.
        "stop_receive_wait": settings.stop_receive_wait,
    }
    broker = broker_url(settings)
    sqs = broker.startswith("sqs://")
    if sqs:
        transport_options["is_secure"] = settings.broker_is_secure()
    return {
        "broker_url": broker,
        "broker_transport": SQS_TRANSPORT if sqs else None,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "result_backend": settings.celery_result_backend,
        "result_extended": True,
        # The schema, Celery's tables included, belongs to Alembic.
        "database_create_tables_at_setup": False,
        # As db.engine's: no ping per checkout (Celery retries a write whose connection the
        # server dropped), recycled before idle timeouts, no ROLLBACK after every COMMIT.
        # And, as the writer's, connections that give up on a server that stopped answering.
        "database_engine_options": {
            "pool_recycle": POOL_RECYCLE_SECONDS,
            "pool_reset_on_return": None,
            **result_connect_args(settings.celery_result_backend),
        },
        "database_engine_callback": "db.engine:reset_only_open_transactions",
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": settings.task_queue,
        # A task is acked only when it is done; a worker that dies returns it to the queue.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # A task mostly waits on HeadObject and MySQL: threads overlap those waits at less
        # CPU per object than processes (README, "How many workers per vCPU"). `--pool
        # prefork` still runs prefork (s3meta.compat.celery.ExplicitPool), which alone
        # enforces the time limits below.
        "worker_pool": WORKER_POOL,
        "worker_concurrency": WORKER_CONCURRENCY,
        "task_time_limit": settings.task_time_limit,
        # The soft limit raises inside the task, leaving it time to record the attempt.
        "task_soft_time_limit": settings.task_time_limit - min(15, settings.task_time_limit / 10),
        "enable_utc": True,
        "timezone": "UTC",
        "worker_hijack_root_logger": False,
        # Remote control and events under s3meta's own names, so that `s3meta broker-cleanup`
        # can tell its queues and topics from any other Celery app's.
        "control_exchange": CONTROL_EXCHANGE,
        "event_exchange": EVENT_EXCHANGE,
        "event_queue_prefix": EVENT_QUEUE_PREFIX,
        # Off unless asked for (`worker -E` or S3META_TASK_EVENTS): on SQS each event is one
        # SNS publish plus one SQS message per monitor, and a task emits about 3-4 of them.
        "worker_send_task_events": settings.task_events,
    }


def result_connect_args(backend: str) -> dict[str, Any]:
    """Celery's engine options for the connect timeouts of its result backend's URL."""
    if not backend.startswith("db+"):
        return {}
    timeouts = connect_timeouts(backend.removeprefix("db+"))
    return {"connect_args": timeouts} if timeouts else {}


def _configuration() -> dict[str, Any]:
    try:
        return celery_config(get_settings())
    except ConfigError as exc:
        # The celery command line reads the config while parsing its options: a usage error
        # there prints one clear line instead of a traceback.
        if click.get_current_context(silent=True) is not None:
            raise click.UsageError(redact(str(exc))) from None
        raise


def create_app() -> Celery:
    """A Celery app whose configuration is read from the environment on first use."""
    # One control queue per worker process, so that workers sharing a name never delete
    # each other's (see s3meta.compat.kombu.ProcessMailbox).
    # The loader makes `db+URL` results s3meta.compat.celery.DatabaseResults: Celery's
    # backend, but a task stores its SUCCESS row in its own transaction (tasks.extract).
    app = Celery(
        "s3meta",
        include=["tasks.extract"],
        control="s3meta.compat.celery:ProcessControl",
        loader="s3meta.compat.celery:Loader",
    )
    app.add_defaults(_configuration)
    honour_explicit_pool()
    app.steps["consumer"].add(HealthFile)
    return app


app = create_app()
# `celery -A tasks flower` imports this module just before it runs Flower's command.
guard_flower_command()


@worker_init.connect  # type: ignore[untyped-decorator]
def _keep_result_engines(sender: Any, **_: Any) -> None:
    """Let Celery's database backend keep pooled engines in pools that never fork.

    Celery builds a new engine (connect, dialect handshake) for every result write unless the
    process forked; a thread-pool worker never does and would pay that on every task.
    Prefork children are left alone: they mark themselves on fork, after the parent's start.
    """
    pool = getattr(sender, "pool_cls", None)
    if pool is None or "prefork" in getattr(pool, "__module__", "prefork"):
        return
    manager = getattr(sender.app.backend, "session_manager", None)
    if manager is not None:
        manager.forked = True


@worker_init.connect  # type: ignore[untyped-decorator]
def _check_node_name(sender: Any, **_: Any) -> None:
    """Warn if another live worker answers to this worker's node name."""
    if sender.app.conf.worker_enable_remote_control:
        warn_on_duplicate_name(sender.app, sender.hostname)


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_acks(**_: Any) -> None:
    """Send the deletes of acknowledged tasks still held back (``compat.kombu.BatchedAcks``).

    The worker's broker channel sends them when it closes, before this signal; this catches
    any left on a channel that failed to close.
    """
    flush_pending_acks()


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_worker_logging(
    loglevel: int | str | None = None, logfile: str | None = None, **_: Any
) -> None:
    """s3meta's logging (format, masking, task fields) in place of Celery's own."""
    logs.configure_logging(loglevel or "INFO", logfile=logfile or None, worker=True)
    log_filters.install()


@task_prerun.connect  # type: ignore[untyped-decorator]
def _enter_task(task_id: str, task: Any, args: Any = (), kwargs: Any = None, **_: Any) -> None:
    logs.enter_task(logs.task_context_for(task_id, getattr(task, "name", None), args, kwargs))


@task_postrun.connect  # type: ignore[untyped-decorator]
def _leave_task(**_: Any) -> None:
    logs.leave_task()
