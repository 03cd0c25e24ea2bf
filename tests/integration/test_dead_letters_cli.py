"""``s3meta dead-letters list|show|purge`` against moto's server, through the click command."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import boto3
import pytest
from click.testing import CliRunner, Result

from s3meta.aws.sqs import PACKED_ATTRIBUTE, Attribute, DeadLetters, Queue, QueueMessage
from s3meta.cli.dead_letters import dead_letters
from s3meta.config import get_settings
from tests.support.cli import json_report
from tests.support.processes import MotoServer
from tests.support.stack import AWS_TEST_ENV

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

BAD_BUCKET = "1 of 1 record unusable: record 1: s3.bucket.name: invalid bucket name 'Bad_Bucket!!'"
EMPTY_KEY = "1 of 1 record unusable: record 1: s3.object.key is empty"
EVENT = {
    "Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "Bad_Bucket!!"}}}]
}


class DeadLetterQueue:
    """A fresh dead-letter queue on moto's server, and the settings that name it."""

    def __init__(self, moto_server: MotoServer) -> None:
        self.client: SQSClient = boto3.client(
            "sqs",
            endpoint_url=moto_server.url,
            region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        self.name = f"events-dlq-{uuid.uuid4().hex[:10]}"
        self.client.create_queue(QueueName=self.name)
        self.queue = Queue(self.client, self.name)
        self.env = {
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": moto_server.url,
            "S3META_DEAD_LETTER_QUEUE": self.name,
        }

    def dead_letter(
        self, body: str, reason: str, attributes: dict[str, Attribute] | None = None
    ) -> str:
        """Dead-letter ``body`` as the bridge does; returns the dead letter's message id."""
        original = QueueMessage(f"original-{uuid.uuid4()}", "r", body, 2, attributes or {})
        return DeadLetters(self.queue).send(original, reason, "s3meta-events")

    def run(self, *args: str, stdin: str | None = None) -> Result:
        """``s3meta dead-letters ARGS`` in this process, ``stdin`` its input (none: at its end)."""
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(dead_letters, list(args), input=stdin, env=self.env)
        finally:
            get_settings.cache_clear()

    def visible(self) -> int:
        """Messages visible now: a command that held some and did not release them fails this."""
        depth = self.queue.depth()
        assert depth.in_flight == 0, depth
        return depth.visible


@pytest.fixture
def dlq(moto_server: MotoServer) -> DeadLetterQueue:
    queue = DeadLetterQueue(moto_server)
    for n in range(12):
        queue.dead_letter(json.dumps({**EVENT, "n": n}), BAD_BUCKET if n % 3 == 0 else EMPTY_KEY)
    return queue


def json_lines(result: Result) -> list[dict[str, object]]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_prints_one_line_per_message_and_leaves_them_all_visible(
    dlq: DeadLetterQueue,
) -> None:
    result = dlq.run("list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 12
    assert all("from s3meta-events" in line and "receives 2" in line for line in lines)
    assert sum("reason: " + BAD_BUCKET in line for line in lines) == 4
    assert all(
        'body: {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"buck…' in line
        for line in lines
    )
    assert f"listed 12 messages of 12 looked at in {dlq.name}" in result.stderr
    assert dlq.visible() == 12


def test_list_filters_by_reason_limits_and_gives_exact_json(dlq: DeadLetterQueue) -> None:
    matching = json_lines(dlq.run("list", "--reason", "BAD_BUCKET", "--json"))

    assert len(matching) == 4
    assert all(entry["reason"] == BAD_BUCKET for entry in matching)
    assert sorted(json.loads(str(entry["body"]))["n"] for entry in matching) == [0, 3, 6, 9]
    assert all(entry["source_queue"] == "s3meta-events" for entry in matching)
    assert all(entry["attributes"] == {} for entry in matching)
    assert len(json_lines(dlq.run("list", "--limit", "5", "--json"))) == 5
    assert dlq.visible() == 12


def test_control_characters_are_escaped_in_lines_and_exact_in_json(
    moto_server: MotoServer,
) -> None:
    dlq = DeadLetterQueue(moto_server)
    dlq.dead_letter("\x1b[31mred\nforged line", "key is \x1b[2J")

    (line,) = dlq.run("list").stdout.splitlines()
    (entry,) = json_lines(dlq.run("list", "--json"))

    assert "\x1b" not in line
    assert "reason: key is \\x1b[2J" in line
    assert "body: \\x1b[31mred\\nforged line" in line
    assert entry["body"] == "\x1b[31mred\nforged line"


def test_show_prints_the_body_indented_and_the_original_attributes(
    moto_server: MotoServer,
) -> None:
    dlq = DeadLetterQueue(moto_server)
    attributes = {
        "trace-id": Attribute("abc"),
        "hops": Attribute("3", "Number"),
        "signature": Attribute(b"\x00\xff", "Binary"),
    }
    message_id = dlq.dead_letter(json.dumps(EVENT), BAD_BUCKET, attributes)
    dlq.dead_letter("other", EMPTY_KEY)

    shown = dlq.run("show", message_id)
    exact = json_report(dlq.run("show", message_id, "--json"))

    assert shown.exit_code == 0, shown.output
    assert f"reason               {BAD_BUCKET}" in shown.stdout
    assert "  hops (Number): 3" in shown.stdout
    assert "  signature (Binary): AP8= (base64)" in shown.stdout
    assert shown.stdout.endswith("body:\n" + json.dumps(EVENT, indent=2) + "\n")
    assert exact["message_id"] == message_id
    assert exact["body"] == json.dumps(EVENT)
    assert exact["attributes"] == {name: value.to_json() for name, value in attributes.items()}
    assert dlq.visible() == 2


def test_show_of_an_unknown_id_says_so_in_one_line(dlq: DeadLetterQueue) -> None:
    result = dlq.run("show", "no-such-id")

    assert result.exit_code == 1
    assert result.stderr == f"s3meta: no message no-such-id among the 12 looked at in {dlq.name}\n"
    assert dlq.visible() == 12


def test_purge_by_reason_deletes_only_the_matching_messages(dlq: DeadLetterQueue) -> None:
    dry = dlq.run("purge", "--reason", "bucket name", "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert len(dry.stdout.splitlines()) == 4
    assert f"would delete 4 messages of 12 looked at in {dlq.name}" in dry.stderr
    assert dlq.visible() == 12

    purged = dlq.run("purge", "--reason", "bucket name", "--yes")

    assert purged.exit_code == 0, purged.output
    assert purged.stdout == f"s3meta: deleted 4 messages from {dlq.name}; 8 others left in place\n"
    assert dlq.visible() == 8
    left = json_lines(dlq.run("list", "--json"))
    assert {entry["reason"] for entry in left} == {EMPTY_KEY}


def test_purge_asks_first_and_deletes_nothing_unless_told_yes(dlq: DeadLetterQueue) -> None:
    declined = dlq.run("purge", stdin="n\n")

    assert declined.exit_code == 1
    assert f"Delete every message of {dlq.name} (about 12 messages in it)?" in declined.stderr
    assert dlq.visible() == 12

    confirmed = json_report(dlq.run("purge", "--reason", "empty", "--json", stdin="y\n"))

    assert (confirmed["matched"], confirmed["deleted"], confirmed["not_deleted"]) == (8, 8, 0)
    assert dlq.visible() == 4


@pytest.mark.parametrize("args", [["list"], ["show", "some-id"], ["purge", "--yes"]])
def test_a_missing_dead_letter_queue_is_one_clear_line(
    moto_server: MotoServer, args: list[str]
) -> None:
    dlq = DeadLetterQueue(moto_server)
    dlq.env["S3META_DEAD_LETTER_QUEUE"] = "s3meta-no-such-dlq"

    result = dlq.run(*args)

    assert result.exit_code == 1
    assert "'s3meta-no-such-dlq': no such queue (run `s3meta setup`)" in result.stderr
    assert "Traceback" not in result.output


def test_an_empty_reason_is_refused(dlq: DeadLetterQueue) -> None:
    result = dlq.run("purge", "--reason", " ", "--yes")

    assert result.exit_code == 2
    assert "give some text the reason must contain" in result.stderr
    assert dlq.visible() == 12


def test_a_message_whose_packed_attributes_are_unreadable_is_still_shown(
    moto_server: MotoServer,
) -> None:
    dlq = DeadLetterQueue(moto_server)
    message_id = dlq.queue.send("body", {PACKED_ATTRIBUTE: Attribute("{not json")})

    shown = json_report(dlq.run("show", message_id, "--json"))

    assert shown["attributes"] == {PACKED_ATTRIBUTE: Attribute("{not json").to_json()}
    assert shown["body"] == "body"
