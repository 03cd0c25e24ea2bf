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
from tests.support.lambda_events import notification, s3_record, sqs_event, sqs_record
from tests.support.stack import Stack

pytestmark = pytest.mark.mysql

BOOTSTRAP = ROOT / "tests" / "support" / "lambda_bootstrap.py"
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
        engine = create_engine(url)
        try:
            row = ObjectReader(engine).get(bucket, "zipped.txt")
        finally:
            engine.dispose()
        assert row is not None
        assert row.size == len(b"from the zip")
        letters = stack.sqs().receive_message(
            QueueUrl=stack.sqs().get_queue_url(QueueName=dead_letters)["QueueUrl"],
            WaitTimeSeconds=5,
        )
        assert [m["Body"] for m in letters.get("Messages", [])] == ["junk"]
