"""The ``extract_metadata`` call: its keyword arguments both ways, and what a run may accept.

The one owner of the task's wire format: the bridge writes it (``task_kwargs``), the
worker reads it (``event_info``) and checks the whole call (``check_task_call``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from s3meta.domain.events import ObjectEvent
from s3meta.domain.names import RECORDED_CHARS, bucket_name_problem, key_problem, short_repr
from s3meta.domain.objects import EventInfo, parse_timestamp, strip_etag
from s3meta.domain.provenance import FIELDS as PROVENANCE_FIELDS
from s3meta.domain.provenance import cleaned


def task_kwargs(event: ObjectEvent) -> dict[str, Any]:
    """Keyword arguments for ``extract_metadata(bucket, key, **kwargs)``; Nones left out."""
    values = {
        "event_name": event.event_name,
        "event_time": event.event_time,
        "version_id": event.version_id,
        "size": event.size,
        "etag": event.etag,
        "sequencer": event.sequencer,
        **{name: getattr(event, name) for name in PROVENANCE_FIELDS},
    }
    return {name: value for name, value in values.items() if value is not None}


def event_info(kwargs: Mapping[str, Any]) -> EventInfo:
    """The event a task's keyword arguments carry, ignoring ones a newer bridge may add."""
    event_time = kwargs.get("event_time")
    size = kwargs.get("size")
    return EventInfo(
        event_name=_str_or_none(kwargs.get("event_name")),
        event_time=parse_timestamp(event_time) if event_time else None,
        sequencer=_str_or_none(kwargs.get("sequencer")),
        version_id=_str_or_none(kwargs.get("version_id")),
        size=int(size) if size is not None else None,
        etag=strip_etag(kwargs["etag"]) if kwargs.get("etag") else None,
        # Who and how only describe the change: unusable values are dropped, not refused.
        **cleaned(kwargs),
    )


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
        event = event_info(event_kwargs)
    except (ValueError, TypeError, OverflowError, AttributeError) as exc:
        problems.append(f"unreadable event fields {short_repr(dict(event_kwargs))}: {exc}")
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
    if isinstance(value, str) and value.isascii() and 0 < len(value) <= RECORDED_CHARS:
        return value
    return short_repr(value)


def recordable_key(value: object) -> str:
    """``value`` as the attempts table's key column can hold it: a valid key as given, anything
    else as a shortened ASCII repr."""
    if isinstance(value, str) and key_problem(value) is None:
        return value
    return short_repr(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
