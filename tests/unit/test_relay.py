"""The relay on in-memory twins: the outbox written with the journal, published in order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from s3meta.cli import main
from s3meta.domain.objects import EventInfo, ObjectState
from s3meta.domain.retries import RetryPolicy
from s3meta.domain.transitions import Change
from s3meta.errors import PermanentError
from s3meta.memory import ManualClock, MemoryFeed, MemoryOutbox, MemoryStore
from s3meta.relay import Relay, RelayGaveUp, run_threads

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
RETRIES = RetryPolicy(max_retries=3, backoff=1, backoff_max=4)


def put(store: MemoryStore, key: str, size: int, sequencer: str) -> None:
    state = ObjectState("b-1", key, size=size, etag=f"e{size}", last_modified=T0)
    event = EventInfo("ObjectCreated:Put", T0, sequencer)
    store.apply(Change("b-1", key, state, event, T0, f"t-{key}-{sequencer}"))


def filled(writes: int = 30, keys: str = "abc") -> MemoryStore:
    store = MemoryStore(lambda: T0, feed=True)
    for n in range(writes):
        put(store, keys[n % len(keys)], n + 1, f"{n + 1:04X}")
    return store


def outbox_of(store: MemoryStore) -> MemoryOutbox:
    assert store.outbox is not None
    return store.outbox


def relay(store: MemoryStore, feed: MemoryFeed, **options: object) -> Relay:
    return Relay(outbox_of(store), feed, RETRIES, drain=True, clock=ManualClock(),
                 draw=lambda n: n - 1, **options)  # type: ignore[arg-type]  # fmt: skip


def sequences(feed: MemoryFeed, key: str) -> list[object]:
    return [body["sequence"] for body in feed.bodies if body["key"] == key]


def test_a_store_without_the_feed_writes_no_outbox() -> None:
    store = MemoryStore(lambda: T0)
    put(store, "a", 1, "01")

    assert store.outbox is None
    assert len(store.journal) == 1


def test_every_journal_entry_is_published_once_in_order_and_its_row_deleted() -> None:
    store = filled()
    feed = MemoryFeed()

    stats = relay(store, feed, round_size=7).run()

    assert stats.published == 30
    assert sorted(body["sequence"] for body in feed.bodies) == list(range(1, 31))  # type: ignore[type-var]
    for key in "abc":
        assert sequences(feed, key) == sorted(sequences(feed, key))  # type: ignore[type-var]
    assert outbox_of(store).rows == []
    assert max(feed.requests) <= 10


def test_a_refused_change_holds_back_its_keys_later_ones_and_goes_first_next_round() -> None:
    store = filled(9)
    feed = MemoryFeed()
    feed.refuse("b-1", "a", times=2)

    stats = relay(store, feed).run()

    assert sequences(feed, "a") == [1, 4, 7]
    assert stats.refused == 2
    assert stats.failed_rounds == 2
    assert outbox_of(store).rows == []


def test_rounds_that_keep_failing_stop_the_relay_with_the_changes_kept() -> None:
    store = filled(5)
    feed = MemoryFeed()
    feed.down = True

    with pytest.raises(RelayGaveUp, match="4 rounds failed in a row; last: memory topic"):
        relay(store, feed).run()

    assert len(outbox_of(store).rows) == 5


def test_a_relay_that_dies_mid_round_leaves_its_rows_for_the_next() -> None:
    store = filled(12)
    feed = MemoryFeed()
    publish = feed.publish
    calls = 0

    def dies_at_the_second_request(changes):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # the process killed between two requests
        return publish(changes)

    feed.publish = dies_at_the_second_request  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        relay(store, feed).run()
    feed.publish = publish  # type: ignore[method-assign]
    assert len(outbox_of(store).rows) == 12

    relay(store, feed).run()

    assert sorted({body["sequence"] for body in feed.bodies}) == list(range(1, 13))  # type: ignore[type-var]
    assert outbox_of(store).rows == []


def test_a_permanent_error_stops_the_relay_at_once() -> None:
    store = filled(2)
    feed = MemoryFeed()

    def refuses(changes):  # type: ignore[no-untyped-def]
        raise PermanentError("SNS topic 'x': it does not exist")

    feed.publish = refuses  # type: ignore[method-assign]

    with pytest.raises(PermanentError, match="does not exist"):
        relay(store, feed).run()


def test_relays_in_threads_share_the_outbox_and_publish_everything() -> None:
    store = filled(50)
    feed = MemoryFeed()
    relays = [relay(store, feed, round_size=5) for _ in range(3)]

    error = run_threads(relays, poll=0.05)

    assert error is None
    assert sorted(body["sequence"] for body in feed.bodies) == list(range(1, 51))  # type: ignore[type-var]


@pytest.mark.usefixtures("isolated_environment")
def test_the_relay_command_without_a_change_topic_is_one_line() -> None:
    result = CliRunner().invoke(main, ["relay", "--drain"])

    assert result.exit_code == 1
    assert result.stderr == (
        "Error: S3META_CHANGE_TOPIC is not set: there is no change feed to relay\n"
    )


@pytest.mark.usefixtures("isolated_environment")
def test_the_relay_command_with_a_bad_change_topic_names_the_variable_and_the_forms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S3META_CHANGE_TOPIC", "arn:aws:s3:::not-a-topic")

    result = CliRunner().invoke(main, ["relay", "--drain"])

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: invalid configuration: S3META_CHANGE_TOPIC='arn:aws:s3:::not-a-topic': "
        "expected an SNS topic ARN"
    )
    assert result.stderr.count("\n") == 1
