"""``db.engine``'s connect timeouts: a writer on MySQL gives up on a server that went silent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from db.engine import MYSQL_TIMEOUTS, connect_timeouts, writer_engine
from tasks.app import result_connect_args


def test_a_pymysql_url_gets_every_timeout() -> None:
    assert connect_timeouts("mysql+pymysql://root@db.example/s3meta") == MYSQL_TIMEOUTS


def test_timeouts_the_url_sets_itself_are_left_to_it() -> None:
    url = "mysql+pymysql://root@db.example/s3meta?read_timeout=5&connect_timeout=2"
    assert connect_timeouts(url) == {"write_timeout": MYSQL_TIMEOUTS["write_timeout"]}


def test_other_databases_get_no_pymysql_arguments() -> None:
    assert connect_timeouts("sqlite:///s3meta.db") == {}
    assert connect_timeouts("postgresql://db.example/s3meta") == {}


class _Captured(Exception):
    pass


def test_the_writer_engine_connects_with_the_timeouts_the_url_leaves_to_it() -> None:
    engine = writer_engine("mysql+pymysql://root@db.example/s3meta?read_timeout=7")
    seen: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def capture(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)
        raise _Captured

    with pytest.raises(_Captured):
        engine.connect()
    engine.dispose()
    assert {name: seen[name] for name in MYSQL_TIMEOUTS} == {
        "connect_timeout": 5,
        "read_timeout": 7,
        "write_timeout": 60,
    }


def test_celerys_result_engine_gets_the_timeouts_of_a_mysql_backend() -> None:
    assert result_connect_args("db+mysql+pymysql://root@db.example/s3meta") == {
        "connect_args": MYSQL_TIMEOUTS
    }
    assert result_connect_args("db+sqlite:///s3meta.db") == {}
    assert result_connect_args("redis://localhost") == {}
