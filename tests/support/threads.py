"""Work shared out to threads, for tests of races."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

Item = TypeVar("Item")


def in_threads(items: Iterable[Item], work: Callable[[Item], object], threads: int) -> None:
    """``work`` on every item of ``items``, in order of taking, by ``threads`` threads at once."""
    source = iter(items)
    lock = threading.Lock()
    errors: list[BaseException] = []

    def run() -> None:
        while True:
            with lock:
                item = next(source, _DONE)
            if item is _DONE:
                return
            try:
                work(item)  # type: ignore[arg-type]
            except BaseException as exc:
                errors.append(exc)
                return

    started = [threading.Thread(target=run) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    if errors:
        raise errors[0]


_DONE = object()
