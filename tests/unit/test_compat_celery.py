"""s3meta.compat.celery: the Celery code the control client and a closing channel rely on."""

from __future__ import annotations

from collections.abc import MutableSet

from s3meta.compat import celery as compat
from s3meta.compat import drifted, release


def test_the_celery_attributes_the_control_client_mirrors_are_unchanged() -> None:
    assert drifted(compat.ProcessControl.MIRRORS) == []


def test_the_worker_state_a_closing_channel_reads_is_still_there() -> None:
    from celery.worker import state

    assert drifted(compat.RUNNING_MIRRORS) == []
    assert isinstance(state.active_requests, MutableSet)


def test_the_running_celery_is_the_series_the_patches_mirror() -> None:
    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high
