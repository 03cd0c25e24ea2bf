"""What S3 accepts as a bucket name and a key, and what ``extract_metadata`` accepts as arguments.

The one owner of these rules: the command line, the bridge and the task all ask here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3meta.domain.objects import MAX_KEY_BYTES, EventInfo

# S3's general-purpose bucket naming rules (the ones every region enforces for new buckets).
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# Reprs of unusable arguments are kept to this many characters, so any of them fits a column.
_RECORDED_CHARS = 63


def bucket_name_problem(name: object) -> str | None:
    """Why ``name`` cannot be an S3 bucket name, or ``None`` if it can."""
    if not isinstance(name, str):
        return f"bucket must be a string, got {type(name).__name__} {_shown(name)}"
    if not name:
        return "empty bucket name"
    if not _BUCKET_NAME.fullmatch(name):
        return (
            f"invalid bucket name {_shown(name)}: a bucket name is 3-63 lowercase letters, "
            "digits, '.' or '-', and starts and ends with a letter or digit"
        )
    return None


def key_problem(key: object, what: str = "key") -> str | None:
    """Why ``key`` cannot be an S3 key (non-empty, at most 1024 bytes of UTF-8), or ``None``."""
    if not isinstance(key, str):
        return f"{what} must be a string, got {type(key).__name__} {_shown(key)}"
    if not key:
        return f"{what} is empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        # Lone surrogates: what a command-line argument or JSON escape that was not UTF-8 gives.
        return f"{what} is not valid UTF-8 text: {_shown(key)}"
    if size > MAX_KEY_BYTES:
        return f"{what} is {size} bytes of UTF-8; S3 allows at most {MAX_KEY_BYTES}"
    return None


@dataclass(frozen=True, slots=True)
class TaskCall:
    """``extract_metadata``'s arguments, checked: a real bucket and key, a readable event."""

    bucket: str
    key: str
    event: EventInfo


class InvalidTaskCall(ValueError):
    """``extract_metadata`` was called with arguments no run could ever use."""


def check_task_call(bucket: object, key: object, event_kwargs: Mapping[str, Any]) -> TaskCall:
    """The checked call ``extract_metadata(bucket, key, **event_kwargs)``.

    Raise ``InvalidTaskCall`` with one sentence naming every problem found.
    """
    problems = [problem for problem in (bucket_name_problem(bucket), key_problem(key)) if problem]
    event: EventInfo | None = None
    try:
        event = EventInfo.from_task_kwargs(event_kwargs)
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        problems.append(f"unreadable event fields {_shown(dict(event_kwargs))}: {exc}")
    # The isinstance checks repeat the problems found above, for the type checker.
    if problems or event is None or not isinstance(bucket, str) or not isinstance(key, str):
        raise InvalidTaskCall("extract_metadata: " + "; ".join(problems))
    return TaskCall(bucket, key, event)


def check_task_arguments(args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> TaskCall:
    """``check_task_call`` for Celery's ``apply_async(args, kwargs)`` form of the call."""
    positional = list(args or ())
    named = dict(kwargs or {})
    values: dict[str, Any] = {}
    for name in ("bucket", "key"):
        if positional:
            if name in named:
                raise InvalidTaskCall(f"extract_metadata: {name} given twice")
            values[name] = positional.pop(0)
        elif name in named:
            values[name] = named.pop(name)
        else:
            raise InvalidTaskCall(f"extract_metadata: {name} is missing")
    if positional:
        raise InvalidTaskCall(
            f"extract_metadata takes a bucket and a key; {len(positional)} more positional "
            "arguments given (event fields are keyword arguments)"
        )
    return check_task_call(values["bucket"], values["key"], named)


def recordable_bucket(value: object) -> str:
    """``value`` as the attempts table's bucket column can hold it (ASCII, 63 characters):
    as given when it fits, else as a shortened ASCII repr. Even an unusable call leaves a row."""
    if isinstance(value, str) and value.isascii() and 0 < len(value) <= _RECORDED_CHARS:
        return value
    return _shown(value)


def recordable_key(value: object) -> str:
    """``value`` as the attempts table's key column can hold it: a valid key as given, anything
    else as a shortened ASCII repr."""
    if isinstance(value, str) and key_problem(value) is None:
        return value
    return _shown(value)


def _shown(value: object) -> str:
    # ascii(): a repr whose every character is printable ASCII, whatever the value holds.
    text = ascii(value)
    return text if len(text) <= _RECORDED_CHARS else text[: _RECORDED_CHARS - 3] + "..."
