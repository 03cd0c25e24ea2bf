"""Sorting botocore's failures into the three kinds s3meta's retry rules care about."""

from __future__ import annotations

from enum import Enum

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ParamValidationError

# Codes AWS uses for throttling and passing trouble, across services; 5xx and 429 count too.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "AWS.SimpleQueueService.ServiceUnavailable",
        "KMS.ThrottlingException",
        "503",
        "500",
        "429",
    }
)


# SQS's "no such queue", in its query-protocol and JSON-protocol spellings.
NO_SUCH_QUEUE = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})
# Denials across services; HeadObject has no body, so its denial is a bare "403".
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "Forbidden", "403"})


class Failure(Enum):
    NOT_FOUND = "not found"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def classify(exc: Exception, not_found_codes: frozenset[str] = frozenset()) -> Failure:
    """The kind of failure ``exc`` is; ``not_found_codes`` are the caller's 'it is gone' codes."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in not_found_codes:
            return Failure.NOT_FOUND
        status = http_status(exc)
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return Failure.TRANSIENT
        return Failure.PERMANENT
    if isinstance(exc, ParamValidationError):
        return Failure.PERMANENT
    if isinstance(exc, ConnectionError | HTTPClientError):
        return Failure.TRANSIENT
    return Failure.PERMANENT


def is_no_such_queue(exc: Exception) -> bool:
    """Whether ``exc`` is SQS saying the queue does not exist."""
    return isinstance(exc, ClientError) and error_code(exc) in NO_SUCH_QUEUE


def is_access_denied(exc: Exception) -> bool:
    """Whether ``exc`` is AWS refusing the caller's permissions (any service)."""
    return isinstance(exc, ClientError) and (
        error_code(exc) in _ACCESS_DENIED or http_status(exc) == 403
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def describe(exc: Exception) -> str:
    """One line about ``exc``: the AWS error code and message when there is one."""
    if isinstance(exc, ClientError):
        message = exc.response.get("Error", {}).get("Message") or "no message"
        return f"{error_code(exc) or http_status(exc)}: {message}"
    return str(exc)
