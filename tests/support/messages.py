"""Reading task messages back from SQS bodies, to check what was sent."""

from __future__ import annotations

import base64
from typing import Any

from kombu.utils.json import loads


def decode_body(body: str) -> dict[str, Any]:
    """The kombu message dict of an SQS body (base64 or not)."""
    try:
        text = base64.b64decode(body, validate=True).decode()
    except ValueError:
        text = body
    decoded: dict[str, Any] = loads(text)  # type: ignore[no-untyped-call]
    return decoded
