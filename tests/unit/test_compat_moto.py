"""s3meta.compat.moto: the moto SQS methods the locks wrap, and the locks themselves."""

from __future__ import annotations

import threading

from moto.sqs import models

from s3meta.compat import drifted, release
from s3meta.compat import moto as compat


def test_the_moto_methods_the_locks_wrap_are_unchanged() -> None:
    assert drifted(compat.LOCK_MIRRORS) == []


def test_a_moto_queue_still_guards_its_messages_with_a_reentrant_condition() -> None:
    queue = models.Queue(  # type: ignore[abstract]
        "compat-probe", region="us-east-1", account_id="123456789012"
    )

    lock = queue._messages_lock
    assert isinstance(lock, threading.Condition)
    with lock, lock:  # re-entrant: receive_message holds it while moto's code takes it again
        pass


def test_the_locks_are_installed_once() -> None:
    compat.make_sqs_thread_safe()
    delete = models.Queue.delete_message
    compat.make_sqs_thread_safe()

    assert models.Queue.delete_message is delete
    assert getattr(delete, "_s3meta_locked", False)


def test_the_running_moto_is_the_series_the_patches_mirror() -> None:
    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high
