"""What S3 accepts as a bucket name and a key.

The one owner of these rules: the command line, the bridge and the task all ask here
(the task through ``s3meta.domain.task_call``).
"""

from __future__ import annotations

import re

from s3meta.domain.objects import MAX_KEY_BYTES

# S3's general-purpose bucket naming rules (the ones every region enforces for new buckets).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Reprs of unusable values are kept to this many characters, so any of them fits a column.
RECORDED_CHARS = 63


def bucket_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an S3 bucket name, or ``None`` if it can."""
    if not isinstance(name, str):
        return f"bucket must be a string, got {type(name).__name__} {short_repr(name)}"
    if not name:
        return "empty bucket name"
    if not _BUCKET_NAME.fullmatch(name):
        return (
            f"invalid bucket name {short_repr(name)}: a bucket name is 3-63 lowercase letters, "
            "digits, '.' or '-', and starts and ends with a letter or digit"
        )
    return None


def key_problem(key: object, what: str = "key") -> str | None:
    """Why ``key`` cannot be an S3 key (non-empty, at most 1024 bytes of UTF-8), or ``None``."""
    if not isinstance(key, str):
        return f"{what} must be a string, got {type(key).__name__} {short_repr(key)}"
    if not key:
        return f"{what} is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: what a command-line argument or JSON escape that was not UTF-8 gives.
        return f"{what} is not valid UTF-8 text: {short_repr(key)}"
    if size > MAX_KEY_BYTES:
        return f"{what} is {size} bytes of UTF-8; S3 allows at most {MAX_KEY_BYTES}"
    return None


def short_repr(value: object) -> str:
    """``value``'s repr in printable ASCII, cut to fit a column (63 characters)."""
    # ascii(): a repr whose every character is printable ASCII, whatever the value holds.
    text = ascii(value)
    return text if len(text) <= RECORDED_CHARS else text[: RECORDED_CHARS - 3] + "..."
