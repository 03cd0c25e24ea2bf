"""Powertools for AWS Lambda's batch utility, for the SQS batches of the Lambda handler.

Optional (``pip install 's3meta[lambda]'``): ``batch_processor()`` is None when the library
is missing or outside the release series below, and the handler then answers the partial
batch response itself (``s3meta.domain.invocations.batch_response``), the same answer.
Powertools calls ``record_handler`` for each record in order and names in
``batchItemFailures`` those that raised; s3meta's verdict on each record decides.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import TYPE_CHECKING, Any

from s3meta.compat import UnsupportedRelease, check_release
from s3meta.domain.invocations import BatchOutcome, Verdict

if TYPE_CHECKING:
    from s3meta.serverless import Invocation, LambdaIndexing

logger = logging.getLogger(__name__)

DISTRIBUTION = "aws-lambda-powertools"
# The public API used here (BatchProcessor's raise_on_entire_batch_failure, from 3.2).
SERIES = ((3, 2), (4, 0))
_REDELIVERED = (Verdict.RETRY, Verdict.NOT_STARTED)


class Redeliver(Exception):
    """Raised for Powertools: this message goes back to the queue."""


@cache
def batch_processor() -> Any | None:
    """Powertools' SQS ``BatchProcessor``, or None (said once) when it cannot be used."""
    try:
        version = metadata.version(DISTRIBUTION)
        check_release(DISTRIBUTION, version, SERIES, "s3meta.integrations.powertools")
    except metadata.PackageNotFoundError:
        return None
    except UnsupportedRelease as exc:
        logger.warning("%s; answering partial batch responses without it", exc)
        return None
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    # All records failed is an answer like any other: SQS delivers them again.
    return BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process_batch(
    processor: Any,
    event: Mapping[str, Any],
    context: Any,
    indexing: LambdaIndexing,
    invocation: Invocation,
) -> tuple[dict[str, Any], BatchOutcome]:
    """Settle every record of the SQS batch ``event`` through Powertools; its answer."""
    from aws_lambda_powertools.utilities.batch import process_partial_response

    outcome = BatchOutcome()

    def record_handler(record: Any) -> str:
        verdict = indexing.settle_record(record.raw_event, invocation)
        outcome.add(record.message_id, verdict)
        if verdict in _REDELIVERED:
            raise Redeliver(f"message {record.message_id}: {verdict}")
        return str(verdict)

    response = process_partial_response(
        event=dict(event), record_handler=record_handler, processor=processor, context=context
    )
    return dict(response), outcome
