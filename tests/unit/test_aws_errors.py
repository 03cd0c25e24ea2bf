"""``s3meta.aws.errors``: one classification of "no such queue" and of "access denied"."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from s3meta.aws.errors import is_access_denied, is_no_such_queue


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": "m"}}
    response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "Operation")


@pytest.mark.parametrize("code", ["AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"])
def test_both_spellings_of_sqs_no_such_queue_are_recognised(code: str) -> None:
    assert is_no_such_queue(client_error(code))


def test_other_errors_are_not_a_missing_queue() -> None:
    assert not is_no_such_queue(client_error("AccessDenied", 403))
    assert not is_no_such_queue(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDenied", 403),
        ("AccessDeniedException", 400),
        ("Forbidden", 403),
        ("403", 403),  # HeadObject: no body, the status is all there is
        ("SomethingElse", 403),
    ],
)
def test_denials_of_every_service_are_access_denied(code: str, status: int) -> None:
    assert is_access_denied(client_error(code, status))


def test_throttling_and_connection_errors_are_not_access_denied() -> None:
    assert not is_access_denied(client_error("SlowDown", 503))
    assert not is_access_denied(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
