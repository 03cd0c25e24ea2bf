"""The Lambda package as Lambda runs it: the zip that scripts/build_lambda_zip.py builds,
unpacked into an empty folder, imported by a bare interpreter that sees nothing else (no
site-packages, no environment's PYTHONPATH), then migrating a database and indexing a batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from db.engine import create_engine
from db.migrations import head_revision
from db.reader import ObjectReader
from tests.support.database import ROOT, scratch_mysql_database
from tests.support.faults import Fault
from tests.support.lambda_events import notification, s3_record, sqs_event, sqs_record
from tests.support.runtime_api import RuntimeApi
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

BOOTSTRAP = ROOT / "tests" / "support" / "lambda_bootstrap.py"
# The runtime interface client Lambda's Python runtimes run, kept apart from the package.
RUNTIME_CLIENT = "awslambdaric>=3,<5"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip built for this interpreter's Python (the dependencies cached in .cache/)."""
    folder = tmp_path_factory.mktemp("lambda")
    output = folder / "s3meta-lambda.zip"
    subprocess.run(
        [
            sys.executable,
            "scripts/build_lambda_zip.py",
            "--python",
            PYTHON,
            "--output",
            str(output),
        ],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    unpacked = folder / "task"  # Lambda's /var/task
    with zipfile.ZipFile(output) as archive:
        archive.extractall(unpacked)
    return unpacked


@pytest.fixture(scope="module")
def runtime_client() -> Path:
    """awslambdaric for this interpreter, installed apart (cached in .cache/)."""
    target = ROOT / ".cache" / "lambda" / f"runtime-client-py{PYTHON}"
    if not (target / "awslambdaric").is_dir():
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
                "--target", str(target), "--only-binary=:all:", RUNTIME_CLIENT,
            ],
            check=True,
            timeout=300,
        )  # fmt: skip
    return target


def size_of(database_url: str, bucket: str, key: str) -> int | None:
    """The size the row of ``bucket``/``key`` holds; None without a row."""
    engine = create_engine(database_url)
    try:
        row = ObjectReader(engine).get(bucket, key)
    finally:
        engine.dispose()
    return None if row is None else row.size


def run(package: Path, entry: str, event: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """``entry`` of the unpacked package in a bare interpreter, as Lambda would call it."""
    completed = subprocess.run(
        [sys._base_executable, "-I", "-S", str(BOOTSTRAP), str(package), entry],  # type: ignore[attr-defined]
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=package,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return result


def test_the_package_holds_no_test_tools_and_no_celery(package: Path) -> None:
    names = {path.name.split("-")[0].lower() for path in package.iterdir()}

    assert {"s3meta", "db", "sqlalchemy", "pymysql", "boto3", "aws_lambda_powertools"} <= names
    assert not names & {"pytest", "moto", "hypothesis", "celery", "kombu", "flower", "tasks"}
    assert not names & {"pyarrow", "duckdb"}  # the export's: the handler never exports


def test_the_unpacked_zip_alone_migrates_a_database_and_indexes_a_batch(
    stack: Stack, package: Path
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="zipped.txt", Body=b"from the zip")
    dead_letters = stack.new_queue("zip-dlq")
    with scratch_mysql_database() as url:
        env = {
            "PATH": os.environ["PATH"],
            **stack.env,
            "S3META_DATABASE_URL": url,
            "S3META_DEAD_LETTER_QUEUE": dead_letters,
            "AWS_LAMBDA_FUNCTION_NAME": "s3meta-indexer",
        }

        migrated = run(package, "migrate", {}, env)
        batch = sqs_event(
            sqs_record(notification(s3_record(bucket, "zipped.txt"))), sqs_record("junk")
        )
        indexed = run(package, "handler", batch, env)

        assert migrated["answer"] == {"revision": head_revision(), "head": head_revision()}
        assert indexed["answer"] == {"batchItemFailures": []}
        # Nothing came from outside the package and the standard library.
        assert migrated["outside"] == []
        assert indexed["outside"] == []
        assert not [entry for entry in indexed["path"] if "site-packages" in entry]
        assert size_of(url, bucket, "zipped.txt") == len(b"from the zip")
        letters = stack.sqs().receive_message(
            QueueUrl=stack.sqs().get_queue_url(QueueName=dead_letters)["QueueUrl"],
            WaitTimeSeconds=5,
        )
        assert [m["Body"] for m in letters.get("Messages", [])] == ["junk"]


# What the runtime runs: awslambdaric's main, on the handler named as Lambda names it.
RIC_MAIN = """
import runpy, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
sys.argv = ["awslambdaric", "s3meta.lambda_handler.handler"]
runpy.run_module("awslambdaric", run_name="__main__")
"""


def test_lambdas_runtime_client_runs_the_package_against_a_local_runtime_api(
    stack: Stack, package: Path, runtime_client: Path, tmp_path: Path
) -> None:
    bucket = stack.new_bucket()
    stack.s3().put_object(Bucket=bucket, Key="ric.txt", Body=b"via awslambdaric")
    api = RuntimeApi(deadline_seconds=60)
    log = (tmp_path / "runtime.log").open("wb")
    with scratch_mysql_database() as url:
        migrate_env = {"PATH": os.environ["PATH"], **stack.env, "S3META_DATABASE_URL": url}
        run(package, "migrate", {}, migrate_env)
        runtime = subprocess.Popen(
            [sys._base_executable, "-I", "-S", "-c", RIC_MAIN, str(package), str(runtime_client)],  # type: ignore[attr-defined]
            cwd=package,
            env={
                **migrate_env,
                "S3META_DEAD_LETTER_QUEUE": stack.new_queue("ric-dlq"),
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "LAMBDA_TASK_ROOT": str(package),
                "AWS_LAMBDA_FUNCTION_NAME": "s3meta-indexer",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            record = sqs_record(notification(s3_record(bucket, "ric.txt")))
            indexed = api.invoke(sqs_event(record, sqs_record("junk")))
            # The context's deadline is the runtime's: too close, and nothing is started.
            api.deadline_seconds = 5
            late = api.invoke(sqs_event(record))
            api.deadline_seconds = 60
            stack.faults.fail("HEAD", f"/{bucket}/ric.txt", Fault(503, "SlowDown", times=1))
            direct = api.invoke(json.loads(notification(s3_record(bucket, "ric.txt"))))
        finally:
            runtime.kill()
            runtime.wait(timeout=10)
            log.close()
            api.stop()
        output = (tmp_path / "runtime.log").read_text()

        assert (indexed.kind, indexed.body) == ("response", {"batchItemFailures": []}), output
        assert late.body == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
        assert direct.kind == "error"
        assert direct.body["errorType"] == "RetryLater"
        assert api.init_errors == []
        assert size_of(url, bucket, "ric.txt") == len(b"via awslambdaric")
