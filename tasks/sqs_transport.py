"""kombu's SQS transport, with the fix a long-running worker needs.

Celery loads it through ``broker_transport`` (see ``tasks.app``); the broker URL stays
``sqs://…``. Mirrors kombu 5.7 (pinned ``<5.8``): re-check on upgrade.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import SQS


class Channel(SQS.Channel):
    def _on_messages_ready(self, queue: str, qname: str, messages: Any) -> int:
        """Deliver a ReceiveMessage answer; a timed-out or failed receive delivers nothing.

        kombu answers a receive that timed out at its HTTP client or got a 5xx with ``[]``
        instead of a response dict; its ``_on_messages_ready`` then fails on ``[].get`` and
        the exception breaks the promise chain that schedules the next receive, so the
        worker silently stops consuming that queue for good.
        """
        if not isinstance(messages, dict):
            return 0
        delivered: int = super()._on_messages_ready(queue, qname, messages)  # type: ignore[no-untyped-call]
        return delivered


class Transport(SQS.Transport):
    Channel = Channel
