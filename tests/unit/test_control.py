"""tasks.control and the transport's queue recovery: the kombu internals they rely on."""

from __future__ import annotations

import inspect
import os

import pytest
from kombu.pidbox import Mailbox
from kombu.transport import SQS
from kombu.transport.SQS.SNS import _SnsSubscription

from s3meta.domain.broker import Kind, kind_of
from s3meta.errors import ConfigError
from tasks.app import app
from tasks.control import ProcessControl, ProcessMailbox, check_kombu


def test_a_worker_control_queue_is_named_after_its_node_and_its_process() -> None:
    mailbox = ProcessMailbox("s3meta", type="fanout")  # type: ignore[no-untyped-call]

    queue = mailbox.get_queue("celery@host")

    assert queue.name == f"celery@host.{os.getpid()}.s3meta.pidbox"
    assert queue.auto_delete
    sqs_name = queue.name.replace("@", "_").replace(".", "-")
    assert kind_of(sqs_name) is Kind.PIDBOX


def test_the_app_uses_the_process_mailbox() -> None:
    assert isinstance(app.control, ProcessControl)
    assert isinstance(app.control.mailbox, ProcessMailbox)


def test_kombu_releases_outside_the_mirrored_series_are_refused() -> None:
    check_kombu("5.7.3")
    for version in ("5.8.0", "6.0.0", "5.6.2"):
        with pytest.raises(ConfigError, match="re-check ProcessMailbox"):
            check_kombu(version)


def test_kombu_still_has_the_methods_the_overrides_mirror() -> None:
    assert list(inspect.signature(Mailbox.get_queue).parameters) == ["self", "hostname"]
    get_async = inspect.signature(SQS.Channel._get_async).parameters
    assert list(get_async) == ["self", "queue", "count", "callback"]
    from_sqs = inspect.signature(SQS.Channel._get_from_sqs).parameters
    assert {"queue_name", "queue_url", "connection", "count", "callback"} <= set(from_sqs)
    assert hasattr(SQS.Channel, "_subscribe_queue_to_fanout_exchange_if_required")
    assert "_subscription_arn_cache" in inspect.getsource(_SnsSubscription.__init__)
