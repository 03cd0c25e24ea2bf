"""s3meta.compat.kombu: each patch still matches the kombu code it overrides or calls."""

from __future__ import annotations

import pytest
from kombu.transport import SQS

from s3meta.compat import Mirrored, drifted
from s3meta.compat import kombu as compat

PATCHES = [
    compat.ShortQueueNames,
    compat.SnsFanoutForTopics,
    compat.FailedReceiveDeliversNothing,
    compat.NoPollAfterClose,
    compat.BlockingDeleteWithoutHub,
    compat.RepliesByQueueName,
    compat.QueueHeartbeat,
    compat.AutoDeleteQueues,
    compat.DeleteForgetsItsQueue,
    compat.RecreateVanishedControlQueues,
    compat.PurgeCountsOnce,
    compat.ReturnReservedOnClose,
    compat.BatchedAcks,
    compat.ProcessMailbox,
]


@pytest.mark.parametrize("patch", PATCHES, ids=lambda patch: patch.__name__)
def test_the_kombu_methods_a_patch_mirrors_are_unchanged(patch: type) -> None:
    mirrors: tuple[Mirrored, ...] = patch.MIRRORS  # type: ignore[attr-defined]

    assert mirrors, f"{patch.__name__} names no kombu method it mirrors"
    assert drifted(mirrors) == []


@pytest.mark.parametrize("patch", PATCHES[:-1], ids=lambda patch: patch.__name__)
def test_a_channel_patch_overrides_only_methods_it_names_or_adds(patch: type) -> None:
    named = {mirrored.name for mirrored in patch.MIRRORS}  # type: ignore[attr-defined]
    overridden = {
        name
        for name, value in vars(patch).items()
        if callable(value) or isinstance(value, property)
        if hasattr(SQS.Channel, name) and not name.startswith("__")
    }

    assert overridden <= named, f"{patch.__name__} overrides {overridden - named} unnamed"


def test_the_transport_channel_carries_every_channel_patch() -> None:
    assert set(PATCHES[:-1]) <= set(compat.Channel.__mro__)
    assert compat.Transport.Channel is compat.Channel


def test_an_sns_subscription_still_caches_subscription_arns_per_queue() -> None:
    import inspect

    from kombu.transport.SQS.SNS import _SnsSubscription

    assert "self._subscription_arn_cache" in inspect.getsource(_SnsSubscription.__init__)


def test_the_batched_send_mirrors_kombus_put() -> None:
    assert drifted(compat.PUT_MIRRORS) == []


def test_a_batched_message_is_framed_as_kombus_publish_frames_one() -> None:
    assert drifted(compat.FRAME_MIRRORS) == []


def test_the_running_kombu_is_the_series_the_patches_mirror() -> None:
    from s3meta.compat import release

    low, high = compat.SERIES
    assert low <= release(compat.VERSION) < high


def test_a_receive_ending_after_its_channel_closed_schedules_nothing() -> None:
    channel = object.__new__(compat.Channel)
    channel.closed = True
    channel.connection = None

    channel._loop1("queue", messages_fetched=None)  # kombu's own raised AttributeError here


def test_a_failed_receive_delivers_nothing_instead_of_breaking_the_poll_loop() -> None:
    # kombu hands a timed-out or 5xx ReceiveMessage over as [] instead of a response dict.
    channel = object.__new__(compat.Channel)

    assert channel._on_messages_ready("queue-url", "queue", []) == 0
