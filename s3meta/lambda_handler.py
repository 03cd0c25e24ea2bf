"""The AWS Lambda entry point: ``s3meta.lambda_handler.handler``.

A thin wrapper over ``s3meta.serverless`` (which runs the same ``Indexer`` as the Celery
worker): it tells the envelope apart (``s3meta.domain.invocations``) and maps the outcome
onto Lambda.

- An SQS batch (the events queue as the event source, ``ReportBatchItemFailures`` on):
  answers ``{"batchItemFailures": [...]}`` naming exactly the messages SQS must deliver
  again; through Powertools' batch utility when ``s3meta[lambda]`` is installed.
- An S3 trigger's ``{"Records": [...]}`` or an EventBridge ``aws.s3`` event: indexed the
  same way; a failure worth trying again raises, so that Lambda's async retries apply.

``relay`` is the change feed's relay (``S3META_CHANGE_TOPIC``), for a function of its own
invoked on a schedule.

The parts (S3 client, database engine, dead-letter queue) are built on the first invocation
and kept for the execution environment's life. Metrics (``S3META_CLOUDWATCH_NAMESPACE``)
are sent by the publisher's thread every ``S3META_METRICS_INTERVAL`` seconds while the
environment runs, not at each invocation: PutMetricData is billed per request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from functools import cache
from typing import Any

from s3meta import serverless
from s3meta.config import get_settings
from s3meta.domain.invocations import InvalidInvocation, InvocationKind, invocation_kind
from s3meta.integrations import powertools
from s3meta.logs import configure_logging

logger = logging.getLogger(__name__)

# Without a context (a local call), the time left is taken as Lambda's longest: 15 minutes.
_NO_DEADLINE_MS = 900_000


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Index the events of one invocation; Lambda's answer."""
    _configure_logging()
    indexing = serverless.environment()
    try:
        kind = invocation_kind(event)
    except InvalidInvocation as exc:
        logger.error("not an invocation s3meta handles: %s", exc)
        raise
    invocation = serverless.Invocation(_remaining_time(context))
    if kind is InvocationKind.SQS:
        return _sqs_batch(event, context, indexing, invocation)
    request_id = str(getattr(context, "aws_request_id", None) or "local")
    verdict = indexing.handle_direct(event, request_id, invocation)
    return {"verdict": str(verdict)}


def migrate(event: Any, context: Any) -> dict[str, Any]:
    """The one-off migration (``alembic upgrade head``), run as its own function after each
    deploy: ``aws lambda invoke --function-name s3meta-migrate out.json``."""
    _configure_logging()
    from db.migrations import read_schema_revision, upgrade

    url = serverless.migration_url(get_settings())
    upgrade(url)
    revision = read_schema_revision(url)
    logger.info("schema at %s", revision.current)
    return {"revision": revision.current, "head": revision.head}


def relay(event: Any, context: Any) -> dict[str, Any]:
    """The change feed's relay, run on a schedule (an EventBridge rule, every minute): it
    publishes the outbox to ``S3META_CHANGE_TOPIC`` until it is empty or time is nearly up."""
    _configure_logging()
    return {"relay": serverless.relay_changes(get_settings(), _remaining_time(context))}


def _sqs_batch(
    event: Mapping[str, Any],
    context: Any,
    indexing: serverless.LambdaIndexing,
    invocation: serverless.Invocation,
) -> dict[str, Any]:
    processor = powertools.batch_processor()
    if processor is None:
        return indexing.handle_batch(event["Records"], invocation).response()
    response, outcome = powertools.process_batch(processor, event, context, indexing, invocation)
    serverless.log_batch(outcome)
    return response


def _remaining_time(context: Any) -> serverless.RemainingTime:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return lambda: int(remaining())
    return lambda: _NO_DEADLINE_MS


@cache
def _configure_logging() -> None:
    """s3meta's log lines (masked; JSON with ``S3META_LOG_FORMAT=json``) on stderr, which
    Lambda sends to CloudWatch Logs, in place of the runtime's own handler (else every line
    would be written twice). Only inside Lambda: a process that calls the handler keeps its
    own logging."""
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    root = logging.getLogger()
    for runtime_handler in list(root.handlers):
        root.removeHandler(runtime_handler)
    configure_logging(logging.INFO)
