"""Who made a change and how it reached S3, as the event record says. Pure.

S3 notifications carry the requester (``userIdentity.principalId``), the client's address
(``requestParameters.sourceIPAddress``), the request's ids (``responseElements``'s
``x-amz-request-id`` and ``x-amz-id-2``) and the notification's ``s3.configurationId``;
EventBridge events carry the requester, address and request id. Requeues and backfills carry
none. These fields only describe a change: one of the wrong type or too long for its column
is left out (null) rather than costing the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Each field, by the name it has everywhere (event, task argument, record, column), and the
# width of its column: S3's ids are short; a principal id of an assumed role names a session.
WIDTHS: Mapping[str, int] = {
    "principal_id": 512,
    "source_ip_address": 64,
    "request_id": 64,
    "host_id": 256,
    "configuration_id": 256,
}
FIELDS = tuple(WIDTHS)


def clean(name: str, value: object) -> str | None:
    """``value`` for field ``name`` if it is text that fits its column, else None."""
    if not isinstance(value, str) or not value or len(value) > WIDTHS[name]:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: JSON allows them, the database does not
        return None
    return value


def cleaned(values: Mapping[str, Any]) -> dict[str, str | None]:
    """Every field of ``values`` (missing ones None), each ``clean``."""
    return {name: clean(name, values.get(name)) for name in FIELDS}
