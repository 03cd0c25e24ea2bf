"""The change feed's relay: the outbox's changes published to ``S3META_CHANGE_TOPIC``.

Each round claims the oldest outbox rows no other relay holds (``Outbox.take``), publishes
the changes ten to a request, one per key a request (``domain.changes.next_request``), and
deletes the rows of those published when the round commits. A change refused holds back its
key's later ones until the next round, so a key's changes leave in commit order. A relay
killed mid-round leaves its rows to be published again: at least once, never lost.

Failed rounds (the topic unreachable, throttling, changes refused) are tried again after
``domain.retries``' backoff, at most ``max_retries`` times in a row; then the relay stops
with the last error (its supervisor restarts it; the rows wait). A permanent error (no such
topic, access denied) stops it at once.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from s3meta.bridge import Clock, SystemClock
from s3meta.domain.changes import Key, PendingChange, next_request
from s3meta.domain.retries import Draw, RetryPolicy
from s3meta.errors import TransientError
from s3meta.health import Heartbeat

logger = logging.getLogger(__name__)

# Rows a round claims: ten requests of ten.
ROUND_SIZE = 100
IDLE_WAIT = 1.0  # seconds between looks at an empty outbox


class Outbox(Protocol):
    def take(self, limit: int, send: Send) -> int:
        """Claim up to ``limit`` rows, ``send`` the changes this relay may publish, delete
        the rows of the ids ``send`` returns, in one transaction; how many were claimed."""
        ...


class Send(Protocol):
    def __call__(self, changes: Sequence[PendingChange]) -> Sequence[int]: ...


class Publisher(Protocol):
    @property
    def where(self) -> str:
        """The target, for messages."""
        ...

    def publish(self, changes: Sequence[PendingChange]) -> dict[int, str]:
        """Publish up to ten changes in one request; the outbox ids refused, with why."""
        ...


class RelayGaveUp(TransientError):
    """Rounds kept failing: the relay stops, the changes stay in the outbox."""


@dataclass
class RelayStats:
    published: int = 0
    refused: int = 0
    failed_rounds: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, published: int = 0, refused: int = 0, failed_rounds: int = 0) -> None:
        with self._lock:
            self.published += published
            self.refused += refused
            self.failed_rounds += failed_rounds

    def summary(self) -> str:
        return (
            f"published={self.published} refused={self.refused} failed_rounds={self.failed_rounds}"
        )


class Relay:
    """One loop of rounds; several (threads or processes) may share an outbox."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        retries: RetryPolicy,
        *,
        round_size: int = ROUND_SIZE,
        drain: bool = False,
        idle_wait: float = IDLE_WAIT,
        stats: RelayStats | None = None,
        heartbeat: Heartbeat | None = None,
        clock: Clock | None = None,
        draw: Draw = random.randrange,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.retries = retries
        self.round_size = round_size
        self.drain = drain
        self.idle_wait = idle_wait
        self.stats = stats or RelayStats()
        self.heartbeat = heartbeat or Heartbeat(None)
        self.clock: Clock = clock or SystemClock()
        self.draw = draw
        self._stop = threading.Event()
        self._failures = 0  # rounds failed in a row

    def stop(self) -> None:
        """End after the round at hand."""
        self._stop.set()

    def run(self) -> RelayStats:
        """Rounds until stopped (with ``drain``: until no row is left to claim)."""
        while not self._stop.is_set():
            self.heartbeat.beat()
            try:
                claimed, published = self.round()
            except TransientError as exc:
                self._back_off(exc)
                continue
            self._failures = 0
            if claimed == 0 and self.drain:
                break
            if published == 0:  # nothing pending, or all of it held by other relays
                self.clock.wait(self._stop, self.idle_wait)
        return self.stats

    def round(self) -> tuple[int, int]:
        """One round: (rows claimed, changes published). Raises ``TransientError`` if a
        request failed or a change was refused, after the commit of what was published."""
        problems: list[str] = []
        published: list[int] = []

        def send(changes: Sequence[PendingChange]) -> list[int]:
            blocked: set[Key] = set()
            pending = list(changes)
            while pending:
                request, pending = next_request(pending, blocked)
                try:
                    refused = self.publisher.publish(request)
                except TransientError as exc:
                    problems.append(str(exc))
                    break
                for change in request:
                    if change.outbox_id in refused:
                        blocked.add(change.key)
                    else:
                        published.append(change.outbox_id)
                if refused:
                    problems.append(f"{len(refused)} refused by {self.publisher.where}: "
                                    f"{next(iter(refused.values()))}")  # fmt: skip
                    self.stats.add(refused=len(refused))
            return published

        claimed = self.outbox.take(self.round_size, send)
        self.stats.add(published=len(published))
        if problems:
            raise TransientError("; ".join(problems))
        return claimed, len(published)

    def _back_off(self, exc: TransientError) -> None:
        self._failures += 1
        self.stats.add(failed_rounds=1)
        delay = self.retries.delay(self._failures, self.draw)
        if delay is None:
            raise RelayGaveUp(f"relay: {self._failures} rounds failed in a row; last: {exc}")
        logger.warning("relay round failed (%s); trying again in %d s", exc, delay)
        self.clock.wait(self._stop, delay)


def run_threads(relays: Sequence[Relay], poll: float = 0.5) -> BaseException | None:
    """Run each relay in its own thread until all return; the first error one stopped on."""
    errors: list[BaseException] = []

    def run(relay: Relay) -> None:
        try:
            relay.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, which raises it
            errors.append(exc)
            for each in relays:  # one gives up: all stop, as one process
                each.stop()

    threads = [
        threading.Thread(target=run, args=(relay,), name=f"relay-{n}", daemon=True)
        for n, relay in enumerate(relays)
    ]
    for thread in threads:
        thread.start()
    # Join with a timeout so that the main thread stays free to take signals.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=poll)
    return errors[0] if errors else None
