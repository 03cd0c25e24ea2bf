"""The real stack (a pytest plugin): moto's server, a fault proxy, MariaDB, a worker."""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from db.engine import writer_engine
from db.reader import ObjectReader
from db.store import MetadataStore
from s3meta.config import get_settings
from tasks.app import app, celery_config
from tasks.runtime import indexer
from tests.support.database import ROOT, migrate, scratch_mysql_database
from tests.support.faults import FaultProxy
from tests.support.processes import MotoServer, WorkerProcess

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.url)
    yield proxy
    proxy.stop()


@dataclass
class Stack:
    """A running pipeline: where things are and the handles to look at them."""

    env: dict[str, str]
    moto: MotoServer
    faults: FaultProxy
    store: MetadataStore
    reader: ObjectReader
    worker: WorkerProcess
    database_url: str

    def s3(self) -> S3Client:
        """An S3 client that talks to moto directly, past the fault proxy."""
        return boto3.client("s3", endpoint_url=self.moto.url, region_name="us-east-1")

    def sqs(self) -> SQSClient:
        """An SQS client that talks to moto directly."""
        return boto3.client("sqs", endpoint_url=self.moto.url, region_name="us-east-1")

    def new_queue(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.sqs().create_queue(QueueName=name)
        return name

    def new_bucket(self, *, versioned: bool = False) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        client = self.s3()
        client.create_bucket(Bucket=name)
        if versioned:
            client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        return name


@pytest.fixture(scope="session")
def stack(
    moto_server: MotoServer, fault_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One worker on MariaDB for the session; each test uses its own bucket."""
    with scratch_mysql_database() as database_url, pytest.MonkeyPatch.context() as patch:
        migrate(database_url)
        env = {
            **AWS_TEST_ENV,
            "AWS_ENDPOINT_URL": moto_server.url,
            "AWS_ENDPOINT_URL_S3": fault_proxy.url,
            "S3META_DATABASE_URL": database_url,
            "S3META_TASK_QUEUE": f"s3meta-test-{uuid.uuid4().hex[:8]}",
            "S3META_MAX_RETRIES": "3",
            "S3META_RETRY_BACKOFF": "1",
            "S3META_S3_MAX_ATTEMPTS": "1",
        }
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        indexer.cache_clear()
        # This process sends tasks and reads results exactly as an operator's shell would.
        app.conf.update(celery_config(get_settings()))
        engine = writer_engine(database_url)
        worker = WorkerProcess(
            env, tmp_path_factory.mktemp("worker") / "worker.log", name="test", cwd=ROOT
        )
        try:
            yield Stack(
                env=env,
                moto=moto_server,
                faults=fault_proxy,
                store=MetadataStore(engine),
                reader=ObjectReader(engine),
                worker=worker,
                database_url=database_url,
            )
        finally:
            worker.stop()
            engine.dispose()
            get_settings.cache_clear()
            indexer.cache_clear()


@pytest.fixture
def worker_log(stack: Stack) -> Path:
    return stack.worker.log_path


_LOG_TAIL_LINES = 60


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the session worker's state and last log lines to a failed test's report.

    The worker runs for the whole session: a test that waits in vain for it is only
    explained by what the worker was doing.
    """
    report: pytest.TestReport = yield
    funcargs = getattr(item, "funcargs", {})
    stack = funcargs.get("stack")
    if report.failed and isinstance(stack, Stack):
        state = stack.worker.describe()
        tail = "\n".join(stack.worker.log().splitlines()[-_LOG_TAIL_LINES:])
        report.sections.append(("session worker", f"{state}\n{tail}"))
    return report
