"""One control queue per worker process: the mailbox and the app's control client."""

from __future__ import annotations

import os

from s3meta.compat.celery import ProcessControl
from s3meta.compat.kombu import ProcessMailbox
from s3meta.deployment.broker import Kind, kind_of
from tasks.app import app


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
