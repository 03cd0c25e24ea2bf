"""The rules of a Lambda invocation: the envelope, the cut-off, the partial batch answer."""

from __future__ import annotations

import pytest

from s3meta.aws.lambda_records import queue_message
from s3meta.domain.invocations import (
    BatchOutcome,
    Cutoff,
    InvalidInvocation,
    InvocationKind,
    Verdict,
    invocation_kind,
    queue_name_of,
    receive_count,
)
from tests.support.lambda_events import (
    binary_attribute,
    notification,
    s3_record,
    sqs_event,
    sqs_record,
    string_attribute,
)


def test_a_batch_of_sqs_records_is_an_sqs_invocation() -> None:
    event = sqs_event(sqs_record(notification(s3_record("b", "k"))))

    assert invocation_kind(event) is InvocationKind.SQS


def test_s3_triggers_and_eventbridge_events_are_direct_invocations() -> None:
    assert invocation_kind({"Records": [s3_record("b", "k")]}) is InvocationKind.DIRECT
    assert invocation_kind({"source": "aws.s3", "detail": {}}) is InvocationKind.DIRECT
    assert invocation_kind({"Records": []}) is InvocationKind.DIRECT


def test_an_sqs_batch_mixed_with_other_records_is_refused_in_one_line() -> None:
    event = sqs_event(sqs_record("{}"), s3_record("b", "k"))

    with pytest.raises(InvalidInvocation, match=r"records \[1\] are not SQS messages"):
        invocation_kind(event)


def test_an_event_that_is_not_an_object_is_refused_in_one_line() -> None:
    with pytest.raises(InvalidInvocation, match="a Lambda event is a JSON object; got list"):
        invocation_kind([1, 2])


def test_the_queue_name_is_the_last_part_of_the_event_source_arn() -> None:
    assert queue_name_of("arn:aws:sqs:eu-west-1:123456789012:s3meta-events") == "s3meta-events"
    assert queue_name_of("arn:aws:sns:eu-west-1:123456789012:topic") is None
    assert queue_name_of(None) is None


def test_the_receive_count_is_the_attempt_number_and_a_garbled_one_counts_as_the_first() -> None:
    assert receive_count(sqs_record("{}", receive_count=3)) == 3
    assert receive_count({"attributes": {"ApproximateReceiveCount": "x"}}) == 1
    assert receive_count({}) == 1


def test_the_cutoff_is_reached_once_the_margin_or_less_is_left() -> None:
    cutoff = Cutoff(margin_ms=5000)

    assert not cutoff.reached(5001)
    assert cutoff.reached(5000)
    assert cutoff.reached(0)


def test_the_answer_names_exactly_the_messages_to_deliver_again() -> None:
    outcome = BatchOutcome()
    for message_id, verdict in [
        ("a", Verdict.DONE),
        ("b", Verdict.RETRY),
        ("c", Verdict.DEAD_LETTERED),
        ("d", Verdict.NOT_STARTED),
    ]:
        outcome.add(message_id, verdict)

    assert outcome.response() == {
        "batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]
    }
    assert BatchOutcome().response() == {"batchItemFailures": []}


def test_a_lambda_record_reads_as_the_queue_message_the_bridge_reads() -> None:
    record = sqs_record(
        "body",
        receive_count=2,
        attributes={"origin": string_attribute("upload"), "blob": binary_attribute(b"\x00\x01")},
    )

    message = queue_message(record)

    assert (message.message_id, message.body, message.receive_count) == (
        record["messageId"],
        "body",
        2,
    )
    assert message.text("origin") == "upload"
    assert message.attributes["blob"].value == b"\x00\x01"
    assert message.attributes["blob"].data_type == "Binary"
    assert message.sent_at is not None
