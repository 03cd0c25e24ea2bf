"""Engines as the writer uses them (``db.engine``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from db.engine import WRITER_POOL_SIZE, writer_engine


def test_a_writer_keeps_the_connections_of_more_threads_than_sqlalchemys_default_pool(
    tmp_path: Path,
) -> None:
    engine = writer_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    threads = 8  # the worker's default; SQLAlchemy's pool keeps 5

    for _ in range(3):  # three rounds of tasks, all threads busy at once
        held = [engine.connect() for _ in range(threads)]
        for connection in held:
            connection.close()

    assert len(opened) == threads
    engine.dispose()


def test_a_writer_opens_a_connection_beyond_its_pool_rather_than_wait(tmp_path: Path) -> None:
    engine = writer_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_timeout=0.01)

    held = [engine.connect() for _ in range(WRITER_POOL_SIZE + 2)]

    assert len(held) == WRITER_POOL_SIZE + 2
    for connection in held:
        connection.close()
    engine.dispose()
