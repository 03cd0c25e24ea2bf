# kombu is untyped: every call into the classes this module extends would need an ignore.
# mypy: disable-error-code="no-untyped-call"
"""kombu's SQS transport and pidbox, with what a long-running worker, events and remote control
need; written against kombu 5.7 (pinned ``<5.8``), refused on any other series.

Celery loads ``Transport`` through ``broker_transport`` (see ``tasks.app``); the broker URL
stays ``sqs://…``. ``Channel`` is kombu's SQS channel with one small class per change, each
naming the kombu behaviour it mends and the kombu methods it mirrors (``MIRRORS``,
checked by ``tests/unit/test_compat_kombu.py``). Delete a class when kombu mends it.

Fanout and topic exchanges go through SNS (``SnsFanoutForTopics``): one SNS topic per
exchange, each consumed queue subscribed to it with raw delivery. That is what lets ``celery
inspect``/``control`` reach workers (fanout exchange ``s3meta.pidbox``) and lets task events
reach every monitor (topic exchange ``s3meta.celeryev``). Topic routing keys are not
filtered: Celery's monitors bind ``#`` and dispatch on the event type, so for events
nothing changes but the price: one SNS publish per event, plus one SQS message per
subscribed monitor.

SQS has no auto-delete: queues declared ``auto_delete`` (event, reply and worker pidbox
queues) are deleted, with their SNS subscription, when the channel that declared them
closes (``AutoDeleteQueues``); ``s3meta broker-cleanup`` removes those of processes that died.
"""

from __future__ import annotations

import atexit
import logging
import os
import select
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from kombu.asynchronous import READ, WRITE
from kombu.asynchronous.aws.connection import AsyncConnection
from kombu.asynchronous.aws.sqs.connection import AsyncSQSConnection
from kombu.asynchronous.aws.sqs.message import AsyncMessage
from kombu.asynchronous.http.curl import CurlClient
from kombu.messaging import Producer
from kombu.pidbox import Mailbox
from kombu.serialization import dumps as serialize
from kombu.serialization import loads as deserialize
from kombu.serialization import registry
from kombu.transport import SQS, virtual
from kombu.transport.SQS.exceptions import DoesNotExistQueueException
from kombu.transport.SQS.SNS import _SnsSubscription
from kombu.transport.virtual.exchange import STANDARD_EXCHANGE_TYPES, ExchangeType, TopicExchange
from kombu.utils.json import dumps
from vine import transform

from s3meta.aws.errors import is_no_such_queue
from s3meta.compat import Mirrored, require
from s3meta.deployment.broker import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TAG,
    Kind,
    fit_sqs_name,
    is_reply_exchange,
    kind_of,
    reply_queue,
)
from s3meta.domain.acks import Batch, PendingAcks

SERIES = ((5, 7), (5, 8))
VERSION = require("kombu", SERIES, "s3meta.compat.kombu")

logger = logging.getLogger(__name__)

_DELETED_RECENTLY = frozenset(
    {"AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently"}
)
# SQS refuses to create a queue under a name deleted less than 60 s ago.
RECREATE_WAIT = 70.0
RECREATE_PAUSE = 5.0
# SQS takes at most ten entries per batch call.
_BATCH = 10
# kombu's asynchronous client reports a failed receive as a bare Exception with SQS's body.
_NO_QUEUE_BODY = ("QueueDoesNotExist", "NonExistentQueue")

_Channel = SQS.Channel


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class ShortQueueNames(_Channel):
    """kombu's SQS queue names, shortened deterministically past SQS's 80 characters.

    kombu sends longer names (a reply queue named after a long host) and SQS refuses them.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "entity_name", ("self", "name", "table")),
    )

    def entity_name(self, name: str, table: Any = SQS.CHARS_REPLACE_TABLE) -> str:
        return fit_sqs_name(str(super().entity_name(name, table)))


class SnsTopicExchange(TopicExchange):
    """A topic exchange that, with fanout on, publishes every message to its SNS topic.

    kombu keeps a virtual topic exchange's bindings in each process's memory, so a
    publisher never sees a monitor's binding. Routing keys are not filtered (see module).
    """

    def deliver(self, message: Any, exchange: str, routing_key: str, **kwargs: Any) -> None:
        if self.channel._exchange_is_fanout(exchange):
            self.channel._put_fanout(exchange, message, routing_key, **kwargs)
        else:
            super().deliver(message, exchange, routing_key, **kwargs)


class SnsFanoutForTopics(_Channel):
    """Fanout on by default, and topic exchanges (Celery's events) through SNS as well.

    kombu 5.7 fans out only ``fanout`` exchanges, and only when a transport option asks.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(
            TopicExchange, "deliver", ("self", "message", "exchange", "routing_key", "kwargs")
        ),
        Mirrored(_Channel, "supports_fanout", ("self",)),
        Mirrored(_Channel, "_exchange_is_fanout", ("self", "exchange_name")),
        Mirrored(_Channel, "_put_fanout", ("self", "exchange", "message", "routing_key", "kwargs")),
    )

    exchange_types: dict[str, type[ExchangeType]] = {  # noqa: RUF012 - kombu's own attribute
        **STANDARD_EXCHANGE_TYPES,
        "topic": SnsTopicExchange,
    }

    @property
    def supports_fanout(self) -> bool:  # type: ignore[override]
        """On unless the transport options turn it off: ``Transport`` declares fanout."""
        return bool(self.transport_options.get("supports_fanout", True))

    def _exchange_is_fanout(self, exchange_name: str) -> bool:
        try:
            exchange_type = self.state.exchanges[exchange_name]["type"]
        except KeyError:
            return False
        return self.supports_fanout and exchange_type in {"fanout", "topic"}


class FailedReceiveDeliversNothing(_Channel):
    """A receive that timed out at kombu's HTTP client or got a 5xx delivers no message.

    kombu 5.7 hands such an answer to ``_on_messages_ready`` as ``[]`` instead of a response
    dict; ``[].get`` then fails inside the promise chain that schedules the next receive, so
    the worker silently stops consuming that queue for good.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_on_messages_ready", ("self", "queue", "qname", "messages")),
    )

    def _on_messages_ready(self, queue: str, qname: str, messages: Any) -> int:
        if not isinstance(messages, dict):
            logger.warning(
                "a receive from %s failed or timed out at kombu's HTTP client; messages SQS "
                "handed to it return after the queue's visibility timeout",
                qname,
            )
            return 0
        delivered: int = super()._on_messages_ready(queue, qname, messages)
        return delivered


class NoPollAfterClose(_Channel):
    """A receive that ends after its channel closed schedules no further receive.

    kombu 5.7's ``_loop1`` reads ``self.connection.polling_interval`` when a receive returns;
    on a channel closed meanwhile (a busy worker stopping) the connection is None, and the
    event loop logs ``Error in timer: 'NoneType' object has no attribute 'polling_interval'``.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_loop1", ("self", "queue", "messages_fetched")),
    )

    def _loop1(self, queue: str, messages_fetched: Any = None) -> None:
        if self.closed or self.connection is None:
            return
        super()._loop1(queue, messages_fetched)


class BlockingDeleteWithoutHub(_Channel):
    """A message of a no-ack queue is deleted with the blocking client outside a worker.

    kombu deletes no-ack messages (event, reply and pidbox queues) with its asynchronous
    client, whose HTTP client registers on the event loop (``hub.on_close``). A synchronous
    consumer such as Celery's ``EventReceiver`` or ``inspect``'s reply collector runs
    without one and failed with ``'NoneType' object has no attribute 'on_close'``.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_delete_message", ("self", "queue_name", "message")),
    )

    def _delete_message(self, queue_name: str, message: dict[str, Any]) -> None:
        if self.hub is not None:
            super()._delete_message(queue_name, message)
            return
        self.sqs(queue=self.canonical_queue_name(queue_name)).delete_message(
            QueueUrl=self._new_queue(queue_name), ReceiptHandle=message["ReceiptHandle"]
        )


class RepliesByQueueName(_Channel):
    """Remote control replies reach their requester's queue, which lives until it closes.

    The requester binds its reply queue in its own process's memory, so the replying
    worker has no binding to look up: kombu names that queue ``<routing key>.<reply
    exchange>``, which is all the route there is. kombu's virtual channel deletes a reply
    queue after every reply, and SQS refuses to recreate a name for 60 s, while Flower
    sends command after command from one reply queue.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_lookup", ("self", "exchange", "routing_key", "default")),
        Mirrored(_Channel, "_put", ("self", "queue", "message", "kwargs")),
        Mirrored(_Channel, "after_reply_message_received", ("self", "queue")),
        Mirrored(_Channel, "_resolve_queue_url", ("self", "queue")),
    )

    def _lookup(self, exchange: str, routing_key: str, default: Any = None) -> Any:
        if exchange and is_reply_exchange(exchange):
            return [reply_queue(exchange, routing_key)]
        return super()._lookup(exchange, routing_key, default)

    def _put(self, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        """Send a message; a reply whose requester's queue is gone is dropped, not recreated."""
        exchange = message.get("properties", {}).get("delivery_info", {}).get("exchange")
        if exchange and is_reply_exchange(exchange):
            try:
                self._resolve_queue_url(queue)
            except DoesNotExistQueueException:
                logger.debug("dropping a reply to %s: nobody is waiting for it", queue)
                return
        super()._put(queue, message, **kwargs)

    def after_reply_message_received(self, queue: str) -> None:
        """Keep the reply queue; it is deleted when its channel closes."""


class QueueHeartbeat(_Channel):
    """Control and event queues are tagged as live, at most every ``HEARTBEAT_INTERVAL``.

    SQS records no last receive, so this tag is how ``broker-cleanup`` tells the queue of a
    live process from one whose owner died.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_get_bulk", ("self", "queue", "max_if_unlimited", "callback")),
        Mirrored(_Channel, "_new_queue", ("self", "queue", "kwargs")),
        Mirrored(_Channel, "_queue_cache"),
    )

    def _get_bulk(self, queue: str, *args: Any, **kwargs: Any) -> Any:
        self._heartbeat(queue)
        return super()._get_bulk(queue, *args, **kwargs)

    def _heartbeat(self, queue: str) -> bool:
        """Tag ``queue`` if due; False if the queue is gone (then forgotten, to be recreated)."""
        name = self.canonical_queue_name(queue)
        if kind_of(name) is None:
            return True
        beats: dict[str, float] = self.connection._heartbeats
        now = time.monotonic()
        last = beats.get(name)
        if last is not None and now - last < HEARTBEAT_INTERVAL.total_seconds():
            return True
        beats[name] = now
        try:
            self.sqs(queue=name).tag_queue(
                QueueUrl=self._new_queue(queue), Tags={HEARTBEAT_TAG: str(int(time.time()))}
            )
        except ClientError as exc:
            if is_no_such_queue(exc):
                self._forget(name)
                return False
            logger.warning("could not tag queue %s as live: %s", name, exc)
        return True

    def _forget(self, sqs_name: str) -> None:
        self._queue_cache.pop(sqs_name, None)
        self.connection._heartbeats.pop(sqs_name, None)


# Channels holding reply queues, for the exit hook; the pid the hook was registered in.
_reply_channels: weakref.WeakSet[AutoDeleteQueues] = weakref.WeakSet()
_exit_hook_pid: int | None = None


def _delete_reply_queues_at_exit(pid: int) -> None:
    """Delete the reply queues of channels still open when the process exits.

    A process that sent remote control commands (``celery inspect``, Flower) keeps its reply
    queues on pooled connections that nothing closes before exit. A forked child inherits
    the hook but not the queues: it does nothing.
    """
    if os.getpid() != pid:
        return
    for channel in list(_reply_channels):
        if not channel.closed:
            channel._delete_auto_delete_queues(kind=Kind.REPLY)


def _remember_reply_channel(channel: AutoDeleteQueues) -> None:
    global _exit_hook_pid
    _reply_channels.add(channel)
    if _exit_hook_pid != os.getpid():
        _exit_hook_pid = os.getpid()
        atexit.register(_delete_reply_queues_at_exit, _exit_hook_pid)


class AutoDeleteQueues(QueueHeartbeat):
    """Queues declared ``auto_delete`` are deleted, with their subscription, at close.

    SQS has no auto-delete, and kombu 5.7 never deletes them: every Flower, ``celery
    inspect`` and worker left its event, reply and pidbox queues behind. A declared queue
    also gets a heartbeat, which recreates it when ``broker-cleanup`` removed it while its
    owner was idle.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "queue_declare", ("self", "queue", "passive", "kwargs")),
        Mirrored(_Channel, "close", ("self",)),
        Mirrored(_Channel, "basic_cancel", ("self", "consumer_tag")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # kombu queue names declared auto_delete on this channel: deleted when it closes.
        self._auto_delete_queues: set[str] = set()

    def queue_declare(self, queue: Any = None, passive: bool = False, **kwargs: Any) -> Any:
        declared = super().queue_declare(queue, passive=passive, **kwargs)
        if kwargs.get("auto_delete") and not passive:
            self._auto_delete_queues.add(declared.queue)
            if kind_of(self.canonical_queue_name(declared.queue)) is Kind.REPLY:
                _remember_reply_channel(self)
            if not self._heartbeat(declared.queue):
                declared = super().queue_declare(queue, passive=passive, **kwargs)
        return declared

    def _delete_auto_delete_queues(self, kind: Kind | None = None) -> None:
        """Delete this channel's auto-delete queues (of ``kind`` only, if given)."""
        for queue in sorted(self._auto_delete_queues):
            if kind is not None and kind_of(self.canonical_queue_name(queue)) is not kind:
                continue
            exchanges = [binding.exchange for binding in self.state.queue_bindings(queue)]
            try:
                self._delete(queue, exchanges[0] if exchanges else None)
            except Exception as exc:  # noqa: BLE001 - closing must go on; cleanup catches up
                logger.warning("could not delete queue %s: %s", queue, exc)
            self.state.queue_bindings_delete(queue)
            self._auto_delete_queues.discard(queue)

    def close(self) -> None:
        if not self.closed and self.connection is not None:
            for consumer_tag in list(self._consumers):
                self.basic_cancel(consumer_tag)
            self._delete_auto_delete_queues()
        super().close()


class DeleteForgetsItsQueue(QueueHeartbeat):
    """Deleting a queue forgets its URL, unsubscribes it, and tolerates a queue already gone.

    kombu 5.7's ``_delete`` forgets the URL under the unconverted name, so a later declare
    finds the deleted queue's URL in its cache, and it leaves the SNS subscription behind.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_delete", ("self", "queue", "exchange", "args", "kwargs")),
        Mirrored(_SnsSubscription, "unsubscribe_queue", ("self", "queue_name", "exchange_name")),
    )

    def _delete(self, queue: str, exchange: str | None = None, *args: Any, **kwargs: Any) -> None:
        if self.predefined_queues:
            return
        name = self.canonical_queue_name(queue)
        if exchange and self._exchange_is_fanout(exchange):
            try:
                self.fanout.subscriptions.unsubscribe_queue(
                    queue_name=queue, exchange_name=exchange
                )
            except Exception as exc:  # noqa: BLE001 - broker-cleanup removes it later
                logger.warning("could not unsubscribe %s from %s: %s", name, exchange, exc)
        try:
            url = self._resolve_queue_url(queue)
            self.sqs(queue=name).delete_queue(QueueUrl=url)
        except DoesNotExistQueueException:
            pass
        except ClientError as exc:
            if not is_no_such_queue(exc):
                raise
        self._forget(name)


class RecreateVanishedControlQueues(QueueHeartbeat):
    """A worker whose control or event queue was deleted under it creates it again.

    kombu 5.7 raises a receive's 400 ``QueueDoesNotExist`` into the event loop, which stops
    the worker (``Unrecoverable error``); the queue can vanish under it (``broker-cleanup``,
    an operator). A queue created again right after it was deleted meets SQS's 60 s ban on
    the name: a blocking declare waits it out, the event loop tries again later.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_get_async", ("self", "queue", "count", "callback")),
        Mirrored(
            _Channel,
            "_get_from_sqs",
            ("self", "queue_name", "queue_url", "connection", "count", "callback"),
        ),
        Mirrored(_Channel, "_create_queue", ("self", "queue_name", "attributes")),
        Mirrored(
            _Channel, "_subscribe_queue_to_fanout_exchange_if_required", ("self", "queue_name")
        ),
        # Sets the instance's ``_subscription_arn_cache``, which ``_recreate`` clears.
        Mirrored(_SnsSubscription, "__init__", ("self", "sns_fanout")),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recreating = False

    def _get_async(self, queue: str, count: int = 1, callback: Any = None) -> Any:
        """kombu's ``_get_async`` (restated: it exposes no hook for the receive's errback)."""
        if not self._heartbeat(queue):
            self._forget(self.canonical_queue_name(queue))
            self._hub.call_soon(self._recreate_then_poll, queue, callback)
            return None
        q_url = self._new_queue(queue)
        qname = self.canonical_queue_name(queue)
        ready = transform(self._on_messages_ready, callback, q_url, queue)
        ready.on_error = lambda *args: self._on_receive_error(queue, callback, args[-1])
        return self._get_from_sqs(
            queue_name=qname,
            queue_url=q_url,
            count=count,
            connection=self.asynsqs(queue=qname),
            callback=ready,
        )

    @property
    def _hub(self) -> Any:
        """The worker's event loop; the asynchronous paths run only with one."""
        return self.hub

    def _on_receive_error(self, queue: str, callback: Any, exc: BaseException) -> None:
        if self.closed or self.connection is None:
            return  # a receive that ended after its channel closed: nobody is waiting
        name = self.canonical_queue_name(queue)
        if kind_of(name) is None or not any(code in str(exc) for code in _NO_QUEUE_BODY):
            raise exc
        logger.warning("control queue %s was deleted; creating it again", name)
        self._forget(name)
        self._hub.call_later(RECREATE_PAUSE, self._recreate_then_poll, queue, callback)

    def _recreate_then_poll(self, queue: str, callback: Any) -> None:
        try:
            self._recreate(queue)
        except Exception as exc:  # noqa: BLE001 - SQS may refuse the name for 60 s; try again
            logger.warning("could not create queue %s again yet: %s", queue, exc)
            self._hub.call_later(RECREATE_PAUSE, self._recreate_then_poll, queue, callback)
            return
        callback([])

    def _recreate(self, queue: str) -> None:
        """Create a forgotten queue again, subscribed to its exchange's topic if fanout."""
        self._recreating = True
        try:
            self._new_queue(queue)
        finally:
            self._recreating = False
        for binding in self.state.queue_bindings(queue):
            self.fanout.subscriptions._subscription_arn_cache.pop(
                f"{binding.exchange}:{queue}", None
            )
        self._subscribe_queue_to_fanout_exchange_if_required(queue)

    def _create_queue(self, queue_name: str, attributes: dict[str, Any]) -> Any:
        # A queue recreated from the event loop must not block it: the caller tries later.
        deadline = time.monotonic() + (0 if self._recreating else RECREATE_WAIT)
        while True:
            try:
                return super()._create_queue(queue_name, dict(attributes))
            except ClientError as exc:
                if _error_code(exc) not in _DELETED_RECENTLY or time.monotonic() >= deadline:
                    raise
                logger.warning(
                    "queue %s was deleted moments ago; waiting to recreate it", queue_name
                )
                time.sleep(RECREATE_PAUSE)


# How long a stopping consumer reads the answer of its queue's receive still in flight, unless
# the transport option ``stop_receive_wait`` says (``S3META_STOP_RECEIVE_WAIT``). A busy
# queue's long poll answers as soon as a message arrives, so this is mostly slack; an idle
# queue's poll, abandoned after it, hides any message reaching it in its last seconds for the
# visibility timeout (README, "Reliability").
STOP_RECEIVE_WAIT = 1.0


def read_until_settled(client: Any, answer: Any, deadline: float) -> bool:
    """Drive ``client`` (kombu's curl client) until ``answer`` settles or ``deadline``
    (monotonic) passes, without the event loop; whether it settled.

    The answer's callbacks run as the event loop would run them.
    """
    import pycurl  # type: ignore[import-untyped]  # a CurlClient exists: so does pycurl

    while not _settled(answer):
        left = deadline - time.monotonic()
        if left <= 0 or client._closed:
            return False
        fds = dict(client._fds)
        readable, writable, _ = select.select(
            [fd for fd, events in fds.items() if events & READ],
            [fd for fd, events in fds.items() if events & WRITE],
            [],
            min(left, 0.05),
        )
        for fd in readable:
            client._on_event(fd, pycurl.CSELECT_IN)
        for fd in writable:
            client._on_event(fd, pycurl.CSELECT_OUT)
        if not readable and not writable:
            # curl's own timers: connecting, and a request not yet started.
            client._on_event(pycurl.SOCKET_TIMEOUT, 0)
    return True


def _settled(answer: Any) -> bool:
    return bool(answer.ready or answer.failed or answer.cancelled)


class ReadReceiveOnCancel(_Channel):
    """A cancelled consumer reads the answer of its queue's receive in flight, briefly.

    At a warm shutdown Celery cancels the task consumer and then closes the event loop,
    and with it kombu's HTTP client, without reading the long poll still in flight. SQS
    answers that poll all the same: the messages in it, never delivered, stayed invisible
    for the whole visibility timeout. Read at cancel (for at most ``STOP_RECEIVE_WAIT``),
    they reach kombu's own release for a queue whose consumer is gone
    (``_on_messages_ready``), which makes them visible at once. Only queues whose messages
    are acknowledged: kombu deletes a no-ack queue's (control, events) as it reads them.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(
            _Channel,
            "_get_from_sqs",
            ("self", "queue_name", "queue_url", "connection", "count", "callback"),
        ),
        Mirrored(_Channel, "basic_cancel", ("self", "consumer_tag")),
        Mirrored(_Channel, "_on_messages_ready", ("self", "queue", "qname", "messages")),
        Mirrored(_Channel, "_release_messages", ("self", "queue", "qname", "messages")),
        Mirrored(_Channel, "wait_time_seconds", ("self",)),
        Mirrored(_Channel, "transport_options", ("self",)),
        Mirrored(_Channel, "_noack_queues", ("self",)),
        # The answer is the promise ``receive_message`` returns; the client, ``_httpclient``.
        Mirrored(
            AsyncSQSConnection,
            "receive_message",
            (
                "self",
                "queue",
                "queue_url",
                "number_messages",
                "visibility_timeout",
                "attributes",
                "wait_time_seconds",
                "callback",
            ),
        ),
        Mirrored(AsyncConnection, "__init__", ("self", "sqs_connection", "http_client", "kwargs")),
        # What the event loop calls on curl's sockets; ``_handle_socket`` fills ``_fds``.
        Mirrored(CurlClient, "_on_event", ("self", "fd", "event", "_pycurl")),
        Mirrored(CurlClient, "_handle_socket", ("self", "event", "fd", "multi", "data", "_pycurl")),
        Mirrored(CurlClient, "close", ("self",)),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # SQS queue name -> (its receive's answer, the HTTP client, when SQS answers at latest).
        self._receiving: dict[str, tuple[Any, Any, float]] = {}

    def _get_from_sqs(
        self,
        queue_name: str,
        queue_url: str,
        connection: Any,
        count: int = 1,
        callback: Any = None,
    ) -> Any:
        answer = super()._get_from_sqs(queue_name, queue_url, connection, count, callback)
        client = getattr(connection, "_httpclient", None)
        if isinstance(client, CurlClient):
            # SQS answers a long poll within its wait; kombu's client gives up at 20 s.
            due = time.monotonic() + self.wait_time_seconds + 1
            self._receiving[queue_name] = (answer, client, due)
        return answer

    @property
    def stop_receive_wait(self) -> float:
        """Seconds a cancelled consumer reads its queue's receive in flight."""
        wait = self.transport_options.get("stop_receive_wait")
        return STOP_RECEIVE_WAIT if wait is None else float(wait)

    def basic_cancel(self, consumer_tag: str) -> Any:
        queue = self._tag_to_queue.get(consumer_tag)
        acked = queue is not None and queue not in self._noack_queues
        cancelled = super().basic_cancel(consumer_tag)
        if queue is not None:
            name = self.canonical_queue_name(queue)
            if acked:
                self._read_receive_in_flight(name)
            self._receiving.pop(name, None)
        return cancelled

    def _read_receive_in_flight(self, name: str) -> None:
        answer, client, due = self._receiving.pop(name, (None, None, 0.0))
        if answer is None or _settled(answer):
            return
        started = time.monotonic()
        read = read_until_settled(client, answer, min(due, started + self.stop_receive_wait))
        logger.info(
            "%s the receive in flight on %s at cancel in %.2f s",
            "read" if read else "abandoned",
            name,
            time.monotonic() - started,
        )

    def _release_messages(self, queue: str, qname: str, messages: list[dict[str, Any]]) -> None:
        """kombu's release, logged where s3meta's log shows it (kombu's own is quieted)."""
        super()._release_messages(queue, qname, messages)
        logger.info(
            "made %d message(s) received after the consumer of %s was cancelled visible again",
            len(messages),
            qname,
        )


class PurgeCountsOnce(_Channel):
    """``celery purge`` reports how many messages it purged.

    kombu 5.7's ``_purge`` adds up ten readings of the same ApproximateNumberOfMessages.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "_purge", ("self", "queue")),
        Mirrored(_Channel, "_size", ("self", "queue")),
    )

    def _purge(self, queue: str) -> int:
        size = int(self._size(queue))
        name = self.canonical_queue_name(queue)
        self.sqs(queue=name).purge_queue(QueueUrl=self._new_queue(queue))
        return size


# Where an acknowledged message is deleted: (queue URL, SQS queue name or None).
AckQueue = tuple[str, str | None]
# How long closing a channel waits for a delete its ack thread is sending.
ACK_CLOSE_TIMEOUT = 30.0


class AckSender:
    """Deletes acknowledged messages in batches (``s3meta.domain.acks``) from a thread.

    ``add`` only records the receipt handle and wakes the thread when a batch becomes due
    sooner; the thread sends what is due with ``send``. ``close`` sends everything left at
    once, on the caller's thread, and stops the thread. Thread-safe: a thread pool's workers
    acknowledge from their own threads.
    """

    def __init__(self, send: Callable[[Batch[AckQueue]], None], delay: float) -> None:
        self.pid = os.getpid()
        self._pending: PendingAcks[AckQueue] = PendingAcks(delay)
        self._send = send
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="s3meta-acks", daemon=True)
        self._thread.start()
        _ack_senders.add(self)

    def add(self, queue: AckQueue, handle: str) -> None:
        with self._wake:
            before = self._pending.next_due()
            self._pending.add(queue, handle, time.monotonic())
            after = self._pending.next_due()
            if before is None or (after is not None and after < before):
                self._wake.notify()

    def __len__(self) -> int:
        with self._wake:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._wake:
                batches = self._pending.due(time.monotonic())
                while not batches and not self._closing:
                    due = self._pending.next_due()
                    self._wake.wait(None if due is None else max(0.0, due - time.monotonic()))
                    batches = self._pending.due(time.monotonic())
                if not batches:
                    return
            self._send_all(batches)

    def flush(self) -> None:
        """Send everything pending now, on the calling thread."""
        with self._wake:
            batches = self._pending.drain()
        self._send_all(batches)

    def close(self, timeout: float = ACK_CLOSE_TIMEOUT) -> None:
        """Send everything pending, and stop the thread (waiting for a send it has begun)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self.flush()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        _ack_senders.discard(self)

    def _send_all(self, batches: list[Batch[AckQueue]]) -> None:
        for batch in batches:
            try:
                self._send(batch)
            except Exception:
                logger.exception(
                    "could not delete %d acknowledged message(s) from %s; SQS delivers them "
                    "again after their visibility timeout (the task is idempotent)",
                    len(batch.handles),
                    batch.queue[0],
                )


# Ack senders still open, for the exit hook; the pid the hook was registered in.
_ack_senders: weakref.WeakSet[AckSender] = weakref.WeakSet()
_ack_sender_lock = threading.Lock()


def flush_pending_acks() -> None:
    """Send the deletes of every acknowledged message this process still holds back.

    Channels flush when they close; this is for a process that stops without closing its
    broker connection (``atexit``, and Celery's ``worker_shutdown``, see ``tasks.app``).
    """
    for sender in list(_ack_senders):
        if sender.pid == os.getpid():
            sender.flush()


atexit.register(flush_pending_acks)


class BatchedAcks(_Channel):
    """A task's ack deletes its message in a DeleteMessageBatch, within a bounded delay.

    kombu 5.7's ``basic_ack`` sends one blocking DeleteMessage per acknowledged message, on
    the thread that acks (a prefork worker's event loop). With the transport option
    ``ack_batch_delay`` above 0 (``S3META_ACK_BATCH_DELAY``), an ack releases the message's
    prefetch slot at once and leaves its delete to the channel's ``AckSender``: ten per
    request, none waiting longer than the delay, all sent when the channel closes. The ack
    comes after the task returned (``task_acks_late``), so its outcome is committed before any
    delete. Entries SQS refuses are logged and deleted one by one, once; a delete that never
    goes out (a worker killed with acks pending) means the task runs again after its
    visibility timeout, which the idempotent task allows. Rejects and visibility changes
    (``basic_reject``, returning reserved messages) are not acks and go out as before.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "basic_ack", ("self", "delivery_tag", "multiple")),
        Mirrored(virtual.Channel, "basic_ack", ("self", "delivery_tag", "multiple")),
        Mirrored(virtual.QoS, "get", ("self", "delivery_tag")),
        Mirrored(_Channel, "close", ("self",)),
        Mirrored(_Channel, "sqs", ("self", "queue")),
        Mirrored(_Channel, "transport_options"),
    )

    _ack_sender: AckSender | None = None

    @property
    def ack_batch_delay(self) -> float:
        """Seconds an ack's delete may wait for others to batch with; 0: sent at once."""
        return float(self.transport_options.get("ack_batch_delay") or 0)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        if self.closed or self.ack_batch_delay <= 0:
            super().basic_ack(delivery_tag, multiple)
            return
        try:
            info = self.qos.get(delivery_tag).delivery_info
            handle = info["sqs_message"]["ReceiptHandle"]
            url = info["sqs_queue"]
        except KeyError:
            super().basic_ack(delivery_tag, multiple)
            return
        name = self.canonical_queue_name(info["routing_key"]) if "routing_key" in info else None
        self._acks().add((str(url), name), str(handle))
        virtual.Channel.basic_ack(self, delivery_tag, multiple)

    def _acks(self) -> AckSender:
        sender = self._ack_sender
        if sender is not None and sender.pid == os.getpid():
            return sender
        with _ack_sender_lock:  # the first acks may come from several threads at once
            sender = self._ack_sender
            # A forked child never inherits its parent's thread: it gets its own.
            if sender is None or sender.pid != os.getpid():
                sender = self._ack_sender = AckSender(self._delete_batch, self.ack_batch_delay)
            return sender

    def _delete_batch(self, batch: Batch[AckQueue]) -> None:
        url, name = batch.queue
        client = self.sqs(queue=name)
        entries = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(batch.handles)]
        try:
            answer = client.delete_message_batch(QueueUrl=url, Entries=entries)
            refused = answer.get("Failed", [])
            failed = [(int(entry["Id"]), str(entry.get("Code", ""))) for entry in refused]
        except Exception as exc:  # noqa: BLE001 - each is tried once more below
            failed = [(n, str(exc)) for n in range(len(entries))]
        if not failed:
            return
        logger.warning(
            "SQS refused %d of %d delete(s) of acknowledged messages on %s (%s); trying "
            "each once more",
            len(failed),
            len(entries),
            url,
            ", ".join(sorted({reason for _, reason in failed})),
        )
        for n, _ in failed:
            try:
                client.delete_message(QueueUrl=url, ReceiptHandle=batch.handles[n])
            except Exception as exc:  # noqa: BLE001 - a lost ack only means a redelivery
                logger.warning(
                    "could not delete an acknowledged message from %s: %s; SQS delivers it "
                    "again after its visibility timeout (the task is idempotent)",
                    url,
                    exc,
                )

    def _flush_acks(self) -> None:
        """Send the deletes this channel holds back now."""
        sender = self._ack_sender
        if sender is not None and sender.pid == os.getpid():
            sender.flush()

    def close(self) -> None:
        sender = self._ack_sender
        if sender is not None and sender.pid == os.getpid():
            sender.close()
        self._ack_sender = None
        super().close()


class ReturnReservedOnClose(BatchedAcks):
    """A closing channel makes the messages it received but never started visible at once.

    kombu 5.7 leaves a stopping worker's reserved (prefetched) tasks unacked, and SQS keeps
    them hidden for the rest of the visibility timeout (30 min by default). Where kombu's
    own restore runs, it sends a copy and leaves the original to come back later as a
    duplicate; returned messages are dropped from its bookkeeping instead. Tasks still
    running are left alone: their ack comes. The deletes of acknowledged messages go out
    first, so that nothing returned can be one whose task is done.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(_Channel, "close", ("self",)),
        Mirrored(SQS.QoS, "_flush", ("self",)),
        Mirrored(SQS.QoS, "_delivered"),
    )

    def close(self) -> None:
        if not self.closed and self.connection is not None:
            for consumer_tag in list(self._consumers):
                self.basic_cancel(consumer_tag)
            self._return_unacked()
        super().close()

    def _return_unacked(self) -> None:
        qos = self._qos
        if qos is None:
            return
        self._flush_acks()
        qos._flush()
        running = running_delivery_tags()
        receipts: dict[tuple[str, str], list[str]] = {}
        for tag, message in list(qos._delivered.items()):
            if tag in running:
                continue
            info = message.delivery_info
            sqs_message, url = info.get("sqs_message"), info.get("sqs_queue")
            if not sqs_message or not url:
                continue
            key = (str(url), str(info.get("routing_key") or ""))
            receipts.setdefault(key, []).append(sqs_message["ReceiptHandle"])
            del qos._delivered[tag]
        for (url, routing_key), handles in receipts.items():
            self._make_visible(url, routing_key, handles)

    def _make_visible(self, url: str, routing_key: str, handles: list[str]) -> None:
        client = self.sqs(queue=self.canonical_queue_name(routing_key))
        returned = 0
        for start in range(0, len(handles), _BATCH):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + _BATCH])
            ]
            try:
                answer = client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            except ClientError as exc:
                logger.warning("could not return reserved messages to %s: %s", url, exc)
                continue
            returned += len(answer.get("Successful", []))
        logger.info(
            "returned %d of %d reserved message(s) to %s", returned, len(handles), routing_key
        )


def running_delivery_tags() -> set[str]:
    """Delivery tags (SQS receipt handles) of the tasks this worker process is executing.

    Celery's ``celery.worker.state.active_requests`` (``s3meta.compat.celery`` mirrors it).
    """
    from celery.worker.state import active_requests

    return {
        str(request.message.delivery_tag)
        for request in list(active_requests)
        if getattr(request, "message", None) is not None
    }


class Channel(
    ReturnReservedOnClose,
    ReadReceiveOnCancel,
    AutoDeleteQueues,
    DeleteForgetsItsQueue,
    RecreateVanishedControlQueues,
    RepliesByQueueName,
    BlockingDeleteWithoutHub,
    FailedReceiveDeliversNothing,
    NoPollAfterClose,
    PurgeCountsOnce,
    BatchedAcks,
    SnsFanoutForTopics,
    ShortQueueNames,
):
    """kombu's SQS channel with every change above.

    Closing runs, in order: cancel consumers, return reserved messages, delete auto-delete
    queues, send the deletes of acknowledged messages still pending, then kombu's close.
    """


class Transport(SQS.Transport):
    Channel = Channel

    # Celery turns remote control on only if the transport declares fanout.
    implements = SQS.Transport.implements.extend(
        exchange_type=frozenset(["direct", "fanout", "topic"])
    )

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # SQS queue name -> monotonic time of its last heartbeat tag from this connection.
        self._heartbeats: dict[str, float] = {}


class ProcessMailbox(Mailbox):
    """kombu's mailbox with the process id in each worker's control queue name.

    kombu names a worker's control queue after its node name only (``<node>.<ns>.pidbox``):
    two workers with one name consumed one SQS queue, and the first to stop deleted it under
    the other. Commands still reach every worker through the fanout topic.
    """

    MIRRORS: ClassVar[tuple[Mirrored, ...]] = (
        Mirrored(Mailbox, "get_queue", ("self", "hostname")),
    )

    def get_queue(self, hostname: str) -> Any:
        return super().get_queue(f"{hostname}.{os.getpid()}")


# What kombu's SQS ``Channel._put`` does to a message before SendMessage, for batched sends.
PUT_MIRRORS = (
    Mirrored(_Channel, "_put", ("self", "queue", "message", "kwargs")),
    Mirrored(_Channel, "_resolve_delay_seconds", ("self", "properties")),
    Mirrored(_Channel, "sqs_base64_encoding", ("self",)),
    Mirrored(AsyncMessage, "encode", ("self", "value")),
)


def capture_puts(channel: Any, sink: Callable[[str, dict[str, Any]], None]) -> None:
    """Make ``channel`` hand each message to ``sink(queue, message)`` instead of sending it."""
    # An instance attribute shadows the transport's method for this channel only.
    channel._put = lambda queue, message, **_: sink(queue, message)


def send_message_fields(
    channel: Any, message: dict[str, Any]
) -> tuple[str, int | None, dict[str, Any] | None]:
    """The body, delay and message attributes kombu's ``_put`` would send for ``message``."""
    properties = message.get("properties", {})
    attributes = properties.pop("message_attributes", None)
    delay = channel._resolve_delay_seconds(properties)
    body = dumps(message)
    if channel.sqs_base64_encoding:
        body = AsyncMessage().encode(body)
    return str(body), delay, attributes


# What kombu's ``Producer.publish`` and a virtual channel's ``basic_publish`` make of a
# message's payload before ``_put``, for batched sends (``payload_of``, ``reframed``).
FRAME_MIRRORS = (
    Mirrored(
        Producer,
        "_prepare",
        (
            "self",
            "body",
            "serializer",
            "content_type",
            "content_encoding",
            "compression",
            "headers",
        ),
    ),
    Mirrored(_Channel, "_inplace_augment_message", ("self", "message", "exchange", "routing_key")),
    Mirrored(_Channel, "_next_delivery_tag", ("self",)),
    Mirrored(_Channel, "encode_body", ("self", "body", "encoding")),
    Mirrored(_Channel, "decode_body", ("self", "body", "encoding")),
    Mirrored(virtual.Channel, "body_encoding"),
)


def payload_of(channel: Any, message: dict[str, Any]) -> Any:
    """The payload of a message ``capture_puts`` handed over, decoded and deserialized."""
    if message.get("headers", {}).get("compression"):
        raise ValueError("compressed messages are not supported")
    body = channel.decode_body(message["body"], message["properties"].get("body_encoding"))
    return deserialize(body, message["content-type"], message["content-encoding"])


def reframed(
    channel: Any,
    prototype: dict[str, Any],
    payload: Any,
    headers: dict[str, Any],
    properties: dict[str, Any],
) -> dict[str, Any]:
    """What ``channel`` would put for ``payload`` published as ``prototype`` was.

    ``prototype`` is an uncompressed message ``capture_puts`` handed over; ``properties``
    are its properties as the caller changed them. The payload is serialized with the
    prototype's content type and encoded as the channel encodes bodies, and it gets a
    delivery tag of its own.
    """
    serializer = registry.type_to_name[prototype["content-type"]]
    content_type, content_encoding, serialized = serialize(payload, serializer=serializer)
    body, body_encoding = channel.encode_body(serialized, channel.body_encoding)
    return {
        **prototype,
        "body": body,
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": headers,
        "properties": {
            **properties,
            "delivery_info": dict(properties["delivery_info"]),
            "body_encoding": body_encoding,
            "delivery_tag": channel._next_delivery_tag(),
        },
    }


def queue_url(channel: Any, queue: str) -> str:
    """The URL of ``queue`` as the channel resolves (and caches) it."""
    return str(channel._new_queue(queue))
