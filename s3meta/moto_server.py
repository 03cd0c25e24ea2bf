"""moto's server, the local stand-in for AWS, with its SQS queues safe for concurrent clients.

moto 5's threaded server runs requests at once, but an SQS queue guards only SendMessage
with its lock: DeleteMessage rebuilds the queue's message list without it, so a message sent
meanwhile vanishes and one deleted meanwhile comes back; ReceiveMessage marks messages
received without it, so two receivers can both be handed one message. A bridge, several
workers and a publisher on one queue meet those races every few thousand messages. Real SQS
has none of them; ``make_sqs_thread_safe`` takes the queue's lock for both calls.

``python -m s3meta.moto_server -H 127.0.0.1 -p PORT`` runs the server so mended.
"""

from __future__ import annotations

from functools import wraps
from typing import Any


def make_sqs_thread_safe() -> None:
    """Serialize each moto SQS queue's DeleteMessage and ReceiveMessage (idempotent)."""
    from moto.sqs import models

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


def main() -> None:
    """moto's own command line, on the mended queues."""
    make_sqs_thread_safe()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
