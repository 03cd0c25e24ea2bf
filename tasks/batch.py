"""Publishing many ``extract_metadata`` tasks with SQS SendMessageBatch (ten per request).

``CeleryPublisher`` sends one SendMessage per task; a backfill of millions of objects wants
a tenth of the requests. The message bodies are the ones kombu's SQS transport would send,
so an ordinary ``celery -A tasks worker`` consumes them.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from celery import Celery

from s3meta.aws.errors import describe
from s3meta.compat.kombu import capture_puts, queue_url, send_message_fields
from s3meta.errors import PublishError, QueueUnavailable
from tasks.extract import extract_metadata

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SQS takes at most ten entries per SendMessageBatch.
BATCH_LIMIT = 10


@dataclass(frozen=True)
class EncodedTask:
    """A task message as kombu would put it on SQS: where it goes and the request fields."""

    task_id: str
    queue: str
    queue_url: str
    body: str
    delay_seconds: int | None = None
    message_attributes: dict[str, Any] | None = None


class KombuSqsEncoder:
    """Builds SQS messages exactly as kombu's SQS transport sends them, without sending.

    A task goes through Celery's normal publishing path (``Task.apply_async`` with our
    producer, kombu's ``Producer.publish`` and the channel's ``basic_publish``) up to the
    channel's ``_put``, which ``s3meta.compat.kombu.capture_puts`` replaces; the captured
    message then gets ``_put``'s own encoding (``send_message_fields``). FIFO queues are not
    supported here.
    """

    def __init__(self, app: Celery) -> None:
        self._connection = app.connection_for_write()
        with _broker_errors():
            self._channel = self._connection.default_channel
        self._producer = app.amqp.Producer(self._channel, auto_declare=False)
        self._captured: list[tuple[str, dict[str, Any]]] = []
        capture_puts(self._channel, lambda queue, message: self._captured.append((queue, message)))

    def encode(self, bucket: str, key: str, **task_kwargs: Any) -> EncodedTask:
        """The SQS message of ``extract_metadata(bucket, key, **task_kwargs)``."""
        self._captured.clear()
        result = extract_metadata.apply_async(
            args=(bucket, key), kwargs=task_kwargs, producer=self._producer, retry=False
        )
        if len(self._captured) != 1:
            raise PublishError(
                f"expected one message for the task, kombu made {len(self._captured)}"
            )
        queue, message = self._captured.pop()
        if queue.endswith(".fifo"):
            raise PublishError("batched publishing does not support FIFO task queues")
        body, delay, attributes = send_message_fields(self._channel, message)
        with _broker_errors():
            url = queue_url(self._channel, queue)
        return EncodedTask(
            task_id=str(result.id),
            queue=queue,
            queue_url=url,
            body=body,
            delay_seconds=delay,
            message_attributes=attributes,
        )

    def close(self) -> None:
        self._connection.release()


@contextmanager
def _broker_errors() -> Iterator[None]:
    """kombu's connection errors (it wraps botocore's) as s3meta's: one line, not a traceback."""
    from kombu.exceptions import OperationalError

    try:
        yield
    except OperationalError as exc:
        raise QueueUnavailable(f"SQS unreachable: {exc}") from exc


def decode_body(body: str) -> dict[str, Any]:
    """The kombu message dict of an SQS body (base64 or not); for tests and diagnostics."""
    from kombu.utils.json import loads

    try:
        text = base64.b64decode(body, validate=True).decode()
    except ValueError:
        text = body
    decoded: dict[str, Any] = loads(text)  # type: ignore[no-untyped-call]
    return decoded


@dataclass
class BatchPublisher:
    """Buffers tasks and sends them ten to a SendMessageBatch, in the order added.

    ``published`` counts tasks SQS accepted; ``last_published`` is the tag (e.g. the key)
    of the last task up to which every task added was accepted, the point to resume after.
    """

    sqs: SQSClient
    encode: Callable[[str, str], EncodedTask]
    batch_size: int = BATCH_LIMIT
    published: int = 0
    last_published: str | None = None
    _pending: list[tuple[str, EncodedTask]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= BATCH_LIMIT:
            raise ValueError(f"batch size must be 1 to {BATCH_LIMIT}")

    def add(self, bucket: str, key: str) -> None:
        """Queue ``extract_metadata(bucket, key)``; sends a batch once it is full."""
        self._pending.append((key, self.encode(bucket, key)))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered; ``PublishError`` names how many got through if SQS refused."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        by_url: dict[str, list[int]] = {}
        for index, (_, task) in enumerate(pending):
            by_url.setdefault(task.queue_url, []).append(index)
        failed: dict[int, str] = {}
        for url, indexes in by_url.items():
            failed.update(self._send(url, [(index, pending[index][1]) for index in indexes]))
        for index, (tag, _) in enumerate(pending):
            if index in failed:
                break
            self.last_published = tag
        self.published += len(pending) - len(failed)
        if failed:
            first = min(failed)
            raise PublishError(
                f"SendMessageBatch refused {len(failed)} of {len(pending)} tasks "
                f"(first: {pending[first][0]}: {failed[first]}); "
                f"{self.published} published in all"
            )

    def _send(self, url: str, tasks: list[tuple[int, EncodedTask]]) -> dict[int, str]:
        entries: list[SendMessageBatchRequestEntryTypeDef] = []
        for index, task in tasks:
            entry: SendMessageBatchRequestEntryTypeDef = {
                "Id": str(index),
                "MessageBody": task.body,
            }
            if task.delay_seconds is not None:
                entry["DelaySeconds"] = task.delay_seconds
            if task.message_attributes:
                entry["MessageAttributes"] = task.message_attributes
            entries.append(entry)
        try:
            response = self.sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise PublishError(
                f"SendMessageBatch of {len(entries)} tasks failed ({describe(exc)}); "
                f"{self.published} published in all"
            ) from exc
        return {
            int(failure["Id"]): f"{failure.get('Code', '')}: {failure.get('Message', '')}"
            for failure in response.get("Failed", [])
        }
