"""Publishing many ``extract_metadata`` tasks with SQS SendMessageBatch (ten per request).

``apply_async`` sends one SendMessage per task; the bridge and a backfill want a tenth of the
requests. The message bodies are the ones kombu's SQS transport would send, so an ordinary
``celery -A tasks worker`` consumes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from celery import Celery, Task
from kombu.transport import SQS
from kombu.utils.uuid import uuid

from s3meta.aws.errors import Failure, classify, describe
from s3meta.compat.celery import TaskCalls, TaskMessage
from s3meta.compat.kombu import capture_puts, payload_of, queue_url, reframed, send_message_fields
from s3meta.errors import PublishError, QueueUnavailable
from tasks.extract import check_arguments, extract_metadata

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# SQS takes at most ten entries, and 256 KiB of messages together, per SendMessageBatch.
BATCH_LIMIT = 10
BATCH_BYTES = 256 * 1024
# The call Celery builds once, for the message every other call is made from.
_PROTOTYPE = ("prototype-bucket", "prototype-key")


@dataclass(frozen=True)
class EncodedTask:
    """A task message as kombu would put it on SQS: where it goes and the request fields."""

    task_id: str
    queue: str
    queue_url: str
    body: str
    delay_seconds: int | None = None
    message_attributes: dict[str, Any] | None = None

    @property
    def size(self) -> int:
        """What the message counts towards a batch's size limit (attributes overestimated)."""
        return len(self.body.encode()) + len(repr(self.message_attributes or ""))


@dataclass(frozen=True)
class _Prototype:
    queue: str
    queue_url: str
    message: dict[str, Any]  # as kombu's channel would put it
    task: TaskMessage


class KombuSqsEncoder:
    """Builds SQS messages exactly as kombu's SQS transport sends them, without sending.

    One call goes through Celery's normal publishing path (``Task.apply_async`` with our
    producer, kombu's ``Producer.publish`` and the channel's ``basic_publish``) up to the
    channel's ``_put``, which ``s3meta.compat.kombu.capture_puts`` replaces. Every other
    call is that message with its own id and arguments (``s3meta.compat.celery.TaskCalls``,
    ``s3meta.compat.kombu.reframed``): about a seventh of the CPU, and safe to share between
    threads. Where Celery's publishing would do more than build the message (publish
    signals, sent events, see ``restamp_blockers``), every call takes Celery's path.
    Either way the message gets ``_put``'s own encoding (``send_message_fields``). FIFO
    queues are not supported here.
    """

    def __init__(self, app: Celery, task: Task = extract_metadata) -> None:
        self._app = app
        self._task = task
        self._connection = app.connection_for_write()
        with _broker_errors():
            self._channel = self._connection.default_channel
        self._producer = app.amqp.Producer(self._channel, auto_declare=False)
        self._captured: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()  # the captured list and Celery's path are not shared
        capture_puts(self._channel, lambda queue, message: self._captured.append((queue, message)))
        self._prototype = self._capture(_PROTOTYPE[0], _PROTOTYPE[1], {})
        self._calls = TaskCalls(app, self._prototype.task)
        # Why every call takes Celery's path; empty when calls are made from the prototype.
        self.shortcut_blockers = self._calls.blockers

    def encode(self, bucket: str, key: str, **task_kwargs: Any) -> EncodedTask:
        """The SQS message of ``extract_metadata(bucket, key, **task_kwargs)``.

        ``InvalidTaskArguments`` if no run could use them, as ``apply_async`` refuses them.
        """
        if self.shortcut_blockers:
            return self.encode_through_celery(bucket, key, **task_kwargs)
        args = (bucket, key)
        check_arguments(args, task_kwargs)
        task_id = uuid()
        prototype = self._prototype
        made = self._calls.message(task_id, args, task_kwargs)
        message = reframed(
            self._channel, prototype.message, made.body, made.headers, made.properties
        )
        return self._encoded(task_id, prototype.queue, prototype.queue_url, message)

    def encode_through_celery(self, bucket: str, key: str, **task_kwargs: Any) -> EncodedTask:
        """``encode`` by Celery's whole publishing path: the reference, at seven times the CPU."""
        prototype = self._capture(bucket, key, task_kwargs)
        return self._encoded(
            str(prototype.task.headers["id"]), prototype.queue, prototype.queue_url,
            prototype.message,
        )  # fmt: skip

    def _capture(self, bucket: str, key: str, task_kwargs: dict[str, Any]) -> _Prototype:
        with self._lock:
            self._captured.clear()
            self._task.apply_async(
                args=(bucket, key), kwargs=task_kwargs, producer=self._producer, retry=False
            )
            if len(self._captured) != 1:
                raise PublishError(
                    f"expected one message for the task, kombu made {len(self._captured)}"
                )
            queue, message = self._captured.pop()
        if queue.endswith(".fifo"):
            raise PublishError("batched publishing does not support FIFO task queues")
        with _broker_errors():
            url = queue_url(self._channel, queue)
        # A compressed payload is not read: TaskCalls leaves such messages to Celery.
        payload = (
            () if "compression" in message["headers"] else tuple(payload_of(self._channel, message))
        )
        task = TaskMessage(message["headers"], message["properties"], payload)
        return _Prototype(queue, url, message, task)

    def _encoded(self, task_id: str, queue: str, url: str, message: dict[str, Any]) -> EncodedTask:
        body, delay, attributes = send_message_fields(self._channel, message)
        return EncodedTask(
            task_id=task_id,
            queue=queue,
            queue_url=url,
            body=body,
            delay_seconds=delay,
            message_attributes=attributes,
        )

    def close(self) -> None:
        self._connection.release()


def publishes_to_sqs(app: Celery) -> bool:
    """Whether ``app``'s broker is SQS, which batched publishing needs."""
    with app.connection_for_write() as connection:
        return isinstance(connection.transport, SQS.Transport)


@contextmanager
def _broker_errors() -> Iterator[None]:
    """kombu's connection errors (it wraps botocore's) and the botocore errors it lets
    through as s3meta's: one line, not a traceback."""
    from kombu.exceptions import OperationalError

    try:
        yield
    except OperationalError as exc:
        raise QueueUnavailable(f"SQS unreachable: {exc}") from exc
    except (ClientError, BotoCoreError) as exc:
        raise QueueUnavailable(f"SQS: {describe(exc)}") from exc


@dataclass(frozen=True)
class _Refusal:
    reason: str
    transient: bool  # sending it again may work


def send_tasks(
    sqs: SQSClient,
    tasks: Sequence[EncodedTask],
    retry_delays: Sequence[float] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> list[str | None]:
    """Send ``tasks`` with SendMessageBatch, ten to a request, in order within each queue.

    For each task: None once SQS accepted it, else why not. A request that failed
    transiently, and entries SQS refused through no fault of ours, are sent again after
    each of ``retry_delays`` (seconds) in turn.
    """
    reasons: list[str | None] = [None] * len(tasks)
    pending = list(range(len(tasks)))
    for retry, delay in enumerate((0.0, *retry_delays)):
        if retry:
            sleep(delay)
        refused = _send(sqs, tasks, pending)
        for index in pending:
            refusal = refused.get(index)
            reasons[index] = None if refusal is None else refusal.reason
        pending = [index for index, refusal in refused.items() if refusal.transient]
        if not pending:
            break
    return reasons


def _send(sqs: SQSClient, tasks: Sequence[EncodedTask], indexes: list[int]) -> dict[int, _Refusal]:
    by_url: dict[str, list[int]] = {}
    for index in indexes:
        by_url.setdefault(tasks[index].queue_url, []).append(index)
    refused: dict[int, _Refusal] = {}
    for url, queued in by_url.items():
        for chunk in _chunks(tasks, queued):
            refused.update(_send_batch(sqs, url, [(index, tasks[index]) for index in chunk]))
    return refused


def _chunks(tasks: Sequence[EncodedTask], indexes: list[int]) -> Iterator[list[int]]:
    """``indexes`` in order, cut into requests SQS takes: ten, or 256 KiB, at most."""
    chunk: list[int] = []
    size = 0
    for index in indexes:
        task_size = tasks[index].size
        if chunk and (len(chunk) == BATCH_LIMIT or size + task_size > BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
        size += task_size
    if chunk:
        yield chunk


def _send_batch(
    sqs: SQSClient, url: str, tasks: list[tuple[int, EncodedTask]]
) -> dict[int, _Refusal]:
    entries: list[SendMessageBatchRequestEntryTypeDef] = []
    for index, task in tasks:
        entry: SendMessageBatchRequestEntryTypeDef = {"Id": str(index), "MessageBody": task.body}
        if task.delay_seconds is not None:
            entry["DelaySeconds"] = task.delay_seconds
        if task.message_attributes:
            entry["MessageAttributes"] = task.message_attributes
        entries.append(entry)
    try:
        response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    except (ClientError, BotoCoreError) as exc:
        refusal = _Refusal(
            f"SendMessageBatch failed ({describe(exc)})", classify(exc) is Failure.TRANSIENT
        )
        return {index: refusal for index, _ in tasks}
    refused = {
        int(failure["Id"]): _Refusal(
            f"SQS refused it ({failure.get('Code', '')}: {failure.get('Message', '')})",
            not failure.get("SenderFault", False),
        )
        for failure in response.get("Failed", [])
    }
    accepted = {int(success["Id"]) for success in response.get("Successful", [])}
    for index, _ in tasks:
        if index not in accepted and index not in refused:
            refused[index] = _Refusal("SQS said nothing about it", transient=True)
    return refused


@dataclass
class BatchPublisher:
    """Buffers tasks and sends them ten to a SendMessageBatch, in the order added.

    ``published`` counts tasks SQS accepted; ``last_published`` is the tag (e.g. the key)
    of the last task up to which every task added was accepted, the point to resume after.
    """

    sqs: SQSClient
    encode: Callable[..., EncodedTask]  # (bucket, key, **task_kwargs), as KombuSqsEncoder's
    batch_size: int = BATCH_LIMIT
    published: int = 0
    last_published: str | None = None
    _pending: list[tuple[str, EncodedTask]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= BATCH_LIMIT:
            raise ValueError(f"batch size must be 1 to {BATCH_LIMIT}")

    def add(self, bucket: str, key: str, *, tag: str | None = None, **task_kwargs: Any) -> None:
        """Queue ``extract_metadata(bucket, key, **task_kwargs)``, tagged ``tag`` (else
        ``key``) for ``last_published``; sends a batch once it is full."""
        self._pending.append((key if tag is None else tag, self.encode(bucket, key, **task_kwargs)))
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Send what is buffered; ``PublishError`` names how many got through if SQS refused."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        reasons = send_tasks(self.sqs, [task for _, task in pending])
        failed = [index for index, reason in enumerate(reasons) if reason is not None]
        for tag, reason in zip((tag for tag, _ in pending), reasons, strict=True):
            if reason is not None:
                break
            self.last_published = tag
        self.published += len(pending) - len(failed)
        if failed:
            first = failed[0]
            raise PublishError(
                f"SendMessageBatch refused {len(failed)} of {len(pending)} tasks "
                f"(first: {pending[first][0]}: {reasons[first]}); "
                f"{self.published} published in all"
            )
