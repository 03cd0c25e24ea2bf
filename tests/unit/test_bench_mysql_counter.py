"""The benchmark's MySQL relay names every command a client sends, however the bytes arrive."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from benchmarks.relays import CommandCounter, command_kind, statement_kind


def packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([sequence]) + payload


def query(sql: str) -> bytes:
    return packet(0, b"\x03" + sql.encode())


HANDSHAKE_RESPONSE = packet(1, b"\x85\xa6\xff\x01" + b"\x00" * 28 + b"root\x00\x00")
SESSION = b"".join(
    [
        HANDSHAKE_RESPONSE,
        query("SET AUTOCOMMIT = 0"),
        packet(0, b"\x0e"),  # COM_PING
        query("INSERT INTO object_journal (bucket, object_key) VALUES ('b', 'k')"),
        query("SELECT celery_taskmeta.id FROM celery_taskmeta WHERE task_id = 'x' FOR UPDATE"),
        query("COMMIT"),
        packet(0, b"\x01"),  # COM_QUIT
    ]
)
KINDS = [
    "SET AUTOCOMMIT",
    "COM_PING",
    "INSERT object_journal",
    "SELECT celery_taskmeta FOR UPDATE",
    "COMMIT",
    "COM_QUIT",
]


def test_a_session_in_one_piece_yields_each_command_and_not_the_handshake() -> None:
    assert CommandCounter().feed(SESSION) == KINDS


@given(st.lists(st.integers(min_value=0, max_value=len(SESSION)), max_size=12))
def test_the_same_commands_come_out_however_the_stream_is_cut(cuts: list[int]) -> None:
    counter = CommandCounter()
    bounds = [0, *sorted(cuts), len(SESSION)]
    kinds = [kind for a, b in itertools.pairwise(bounds) for kind in counter.feed(SESSION[a:b])]
    assert kinds == KINDS


def test_the_continuation_of_a_16_mb_packet_is_not_a_command() -> None:
    first = b"\x03INSERT INTO object_metadata VALUES ('" + b"x" * (0xFFFFFF - 38)
    rest = b"')"
    stream = packet(0, first) + packet(1, rest) + query("COMMIT")
    assert CommandCounter().feed(stream) == ["INSERT object_metadata", "COMMIT"]


def test_statements_are_named_by_verb_and_table() -> None:
    assert statement_kind("  /* comment */ UPDATE `celery_taskmeta` SET x = 1") == (
        "UPDATE celery_taskmeta"
    )
    assert statement_kind("DELETE FROM task_attempts WHERE id = 1") == "DELETE task_attempts"
    assert statement_kind("SELECT nextval(task_id_sequence)") == "SELECT nextval"
    assert statement_kind("SELECT 1") == "SELECT 1"
    assert statement_kind("ROLLBACK") == "ROLLBACK"


def test_binary_commands_are_named_and_unknown_ones_shown_by_number() -> None:
    assert command_kind(b"\x17\x01\x00\x00\x00") == "COM_STMT_EXECUTE"
    assert command_kind(b"\x7f") == "COM_0x7f"


def test_a_query_of_several_statements_is_one_command_that_says_how_many_more_it_carries() -> None:
    # The value's newline is escaped, as the driver sends it: not a separator.
    first = "INSERT INTO object_metadata (k) VALUES ('a;\\nb')"
    sql = f"{first};\nINSERT INTO object_journal (k) VALUES (1)"

    assert CommandCounter().feed(query(sql)) == ["INSERT object_metadata +1 statements"]
