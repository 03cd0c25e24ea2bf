"""deploy/lambda/template.yaml: valid by cfn-lint, and the deployment the Lambda handler needs.

The events queue mapping reports partial batch failures and caps the function's concurrency;
the queues are those `s3meta setup` makes (same names, attributes and policy statement); the
function's role holds what `s3meta setup --iam-policy lambda` prints, and nothing more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from s3meta.deployment.queue_policy import (
    DEAD_LETTER_RETENTION_SECONDS,
    EVENTS_VISIBILITY_TIMEOUT,
    MAX_RECEIVE_COUNT,
    POLICY_STATEMENT_ID,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "lambda" / "template.yaml"
POLICY = ROOT / "deploy" / "iam" / "lambda-policy.json"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


class _CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (``!Ref``, ``!GetAtt``…) read as their long form."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CloudFormationLoader)
    return loaded


def resource(template: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][name]["Properties"]
    return properties


def test_cfn_lint_finds_nothing_wrong_with_the_template() -> None:
    linted = subprocess.run(
        [str(CFN_LINT), str(TEMPLATE)], capture_output=True, text=True, timeout=120, check=False
    )

    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_events_queue_feeds_the_function_with_partial_failures_and_a_concurrency_cap(
    template: dict[str, Any],
) -> None:
    function = resource(template, "IndexerFunction")
    mapping = function["Events"]["EventsQueue"]

    assert function["Handler"] == "s3meta.lambda_handler.handler"
    assert mapping["Type"] == "SQS"
    assert mapping["Properties"]["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": "MaximumConcurrency"
    }


def test_the_visibility_timeout_is_at_least_six_times_the_function_timeout(
    template: dict[str, Any],
) -> None:
    timeout = resource(template, "IndexerFunction")["Timeout"]

    assert resource(template, "EventsQueue")["VisibilityTimeout"] >= 6 * timeout


def test_the_queues_are_the_ones_s3meta_setup_makes(template: dict[str, Any]) -> None:
    events, dead_letters = resource(template, "EventsQueue"), resource(template, "DeadLetterQueue")
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    statement = resource(template, "EventsQueuePolicy")["PolicyDocument"]["Statement"][0]

    assert events["QueueName"] == variables["S3META_EVENTS_QUEUE"] == "s3meta-events"
    assert dead_letters["QueueName"] == variables["S3META_DEAD_LETTER_QUEUE"]
    assert events["VisibilityTimeout"] == EVENTS_VISIBILITY_TIMEOUT
    assert events["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
    assert dead_letters["MessageRetentionPeriod"] == DEAD_LETTER_RETENTION_SECONDS
    assert statement["Sid"] == POLICY_STATEMENT_ID
    # The last delivery records the key as failed before SQS would move the message.
    assert int(variables["S3META_MAX_RETRIES"]) == MAX_RECEIVE_COUNT - 1


def test_the_functions_role_grants_what_setup_prints_for_lambda_and_nothing_more(
    template: dict[str, Any],
) -> None:
    role = resource(template, "FunctionRole")
    [inline] = role["Policies"]
    generated = json.loads(POLICY.read_text())["Statement"]

    def shape(statements: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
        return [
            (s["Sid"], sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
            for s in statements
        ]

    assert shape(inline["PolicyDocument"]["Statement"]) == shape(generated)
    vpc_role = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": vpc_role}]
    for name in ("IndexerFunction", "MigrateFunction"):
        assert resource(template, name)["Role"] == {"Fn::GetAtt": ["FunctionRole", "Arn"]}


def test_the_function_reaches_the_database_in_the_vpc_through_rds_proxy_with_iam_and_tls(
    template: dict[str, Any],
) -> None:
    function = template["Globals"]["Function"]
    proxy = resource(template, "DatabaseProxy")

    assert function["VpcConfig"]["SubnetIds"] == {"Ref": "SubnetIds"}
    assert (
        "DatabaseProxy.Endpoint"
        in function["Environment"]["Variables"]["S3META_DATABASE_URL"]["Fn::Sub"]
    )
    assert function["Environment"]["Variables"]["S3META_DATABASE_IAM_AUTH"] == "true"
    assert proxy["RequireTLS"] is True
    assert proxy["Auth"][0]["IAMAuth"] == "REQUIRED"
    assert resource(template, "DatabaseProxyTargets")["DBInstanceIdentifiers"] == [
        {"Ref": "Database"}
    ]


def test_the_migration_is_a_function_of_its_own_run_once(template: dict[str, Any]) -> None:
    migrate = resource(template, "MigrateFunction")

    assert migrate["Handler"] == "s3meta.lambda_handler.migrate"
    assert "Events" not in migrate
