"""moto's SQS queues made safe for concurrent clients; written against moto 5.x.

moto 5's threaded server runs requests at once, but an SQS queue guards only SendMessage
with its lock: DeleteMessage rebuilds the queue's message list without it, so a message sent
meanwhile vanishes and one deleted meanwhile comes back; ReceiveMessage marks messages
received without it, so two receivers can both be handed one message. A bridge, several
workers and a publisher on one queue meet those races every few thousand messages. Real SQS
has none of them. Imported only where moto runs (tests, the demo, ``s3meta.moto_server``).
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from moto.sqs import models

from s3meta.compat import Mirrored, require

SERIES = ((5, 1), (6, 0))
VERSION = require("moto", SERIES, "s3meta.compat.moto")

LOCK_MIRRORS = (
    Mirrored(models.Queue, "delete_message", ("self", "receipt_handle")),
    Mirrored(
        models.SQSBackend,
        "receive_message",
        (
            "self",
            "queue_name",
            "count",
            "wait_seconds_timeout",
            "visibility_timeout",
            "message_attribute_names",
        ),
    ),
    Mirrored(models.SQSBackend, "get_queue", ("self", "queue_name")),
)


def make_sqs_thread_safe() -> None:
    """Serialize each moto SQS queue's DeleteMessage and ReceiveMessage (idempotent)."""
    if getattr(models.Queue.delete_message, "_s3meta_locked", False):
        return
    delete = models.Queue.delete_message
    receive = models.SQSBackend.receive_message

    @wraps(delete)
    def delete_message(self: Any, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    @wraps(receive)
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        # The lock is a Condition over an RLock: a long poll's wait inside releases it.
        with self.get_queue(queue_name)._messages_lock:
            return receive(self, queue_name, *args, **kwargs)

    delete_message._s3meta_locked = True  # type: ignore[attr-defined]
    models.Queue.delete_message = delete_message  # type: ignore[method-assign]
    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
