"""User data made safe to print for people: the one place control characters are escaped."""

from __future__ import annotations

import re

# C0 and C1 controls and DEL (escape sequences, bells, carriage returns, newlines that
# would forge a line), the bidirectional overrides and isolates that reorder what follows,
# line and paragraph separators, and lone surrogates, which no terminal can show.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def printable(text: str) -> str:
    """``text`` with every character a terminal would obey written as a Python escape.

    ``\\x1b`` for ESC, ``\\n`` for a newline, ``\\u202e`` for a bidi override; everything else,
    non-ASCII letters included, is left as it is. Only for human-readable output: JSON keeps
    the exact text (its encoder escapes control characters itself).
    """
    return _UNSAFE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape", "backslashreplace").decode("ascii")
