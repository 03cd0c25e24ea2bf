"""Prefix totals kept by real ``celery -A tasks worker`` processes, against moto's server
and MariaDB: after any puts, overwrites and deletes, they equal a recount."""

from __future__ import annotations

import random
from typing import Any

import pytest

from db.engine import create_engine
from db.totals import TotalsReader, repair
from s3meta.domain.totals import Total, TotalsRule, recount
from tasks import extract_metadata
from tests.support.stack import Stack
from tests.support.totals import counted_from_rows, stored_totals

pytestmark = pytest.mark.mysql

RESULT_TIMEOUT = 120
KEYS = ["root.txt", "a/1", "a/2", "a/b/1", "a/b/c/d/1", "z/y/1", "z/y/2", "caf\u00e9/1"]
CLASSES: list[Any] = ["STANDARD", "STANDARD_IA", "GLACIER"]
RULE = TotalsRule()  # the worker's: S3META_TOTALS_* are not set


@pytest.mark.timeout(300)  # 68 tasks and the worker's start, on a loaded machine
@pytest.mark.parametrize("seed", [7, 8])
def test_random_puts_overwrites_and_deletes_through_workers_leave_totals_equal_to_a_recount(
    stack: Stack, seed: int
) -> None:
    chance = random.Random(seed)
    bucket = stack.new_bucket()
    s3 = stack.s3()
    results = []
    for _ in range(60):
        key = chance.choice(KEYS)
        if chance.random() < 0.3:
            s3.delete_object(Bucket=bucket, Key=key)
        else:
            body = b"x" * chance.randrange(2000)
            s3.put_object(Bucket=bucket, Key=key, Body=body, StorageClass=chance.choice(CLASSES))
        # Sent at once: the worker's two processes run them concurrently, in any order.
        results.append(extract_metadata.delay(bucket, key))
    for result in results:
        result.get(timeout=RESULT_TIMEOUT)
    engine = create_engine(stack.database_url)
    try:
        counted = counted_from_rows(engine, bucket, RULE)
        assert counted  # something is live, or nothing was tested
        assert stored_totals(engine, bucket) == counted
        # A last look at every key brings the rows, and so the totals, in line with S3.
        for result in [extract_metadata.delay(bucket, key) for key in KEYS]:
            result.get(timeout=RESULT_TIMEOUT)
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        in_s3 = [(bucket, o["Key"], o.get("StorageClass"), o["Size"]) for o in listed]
        assert stored_totals(engine, bucket) == recount(RULE, in_s3)
        root = TotalsReader(engine, RULE).usage(bucket, "", 0)[0].total
        assert root == Total(len(listed), sum(o["Size"] for o in listed))
        assert repair(engine, bucket, RULE) == []
    finally:
        engine.dispose()
