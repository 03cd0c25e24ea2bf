"""``s3meta.domain.terminal.printable``: user data safe for a terminal, and still readable."""

from __future__ import annotations

import pytest

from s3meta.domain.terminal import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("bell\x07", "bell\\x07"),
        ("a\r\nb\tc", "a\\r\\nb\\tc"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("del\x7f", "del\\x7f"),
        ("txt\u202eexe", "txt\\u202eexe"),
        ("lone\udc80", "lone\\udc80"),
        ("line\u2028sep", "line\\u2028sep"),
    ],
)
def test_control_characters_become_python_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize(
    "text", ["plain/key.txt", "ünïcödé 日本語 файл", "[bold]markup[/bold]", "a\\x1b", "👩‍💻"]
)
def test_printable_text_is_left_exactly_as_it_is(text: str) -> None:
    assert printable(text) == text
