"""s3meta.compat.celery: the Celery code the control client, a closing channel and batched
task messages rely on."""

from __future__ import annotations

from collections.abc import MutableSet

from celery.utils.saferepr import saferepr
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_the_celery_code_task_messages_are_made_like_is_unchanged() -> None:
    assert drifted(compat.TASK_MESSAGE_MIRRORS) == []


_SCALARS = st.one_of(st.text(), st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False))
_ARGUMENTS = st.one_of(
    st.lists(_SCALARS, max_size=4).map(tuple),
    st.dictionaries(st.text(max_size=8), _SCALARS, max_size=6),
    # Not flat: saferepr's own rendering.
    st.tuples(st.lists(st.integers(), max_size=2)),
    st.dictionaries(st.integers(), st.dictionaries(st.text(max_size=2), st.integers())),
)


@settings(max_examples=500, deadline=None)
@given(_ARGUMENTS, st.one_of(st.none(), st.integers(min_value=1, max_value=80)))
def test_an_argument_repr_is_celerys_saferepr(value: object, maxlen: int | None) -> None:
    assert compat.argument_repr(value, maxlen, 3) == saferepr(value, maxlen, maxlevels=3)
