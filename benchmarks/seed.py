"""The seed's design, which s3meta replaces: one process, one message at a time.

Receive one message, HeadObject, INSERT + COMMIT, DeleteMessage; again.
``python -m benchmarks.seed QUEUE_URL DATABASE_URL`` runs it as a
process of its own (until SIGTERM), against ``AWS_ENDPOINT_URL``, so that its CPU can be
read apart from a harness's.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any
from urllib.parse import unquote_plus

import boto3
import sqlalchemy as sa

from db.engine import create_engine

SEED_TABLE = sa.text(
    "CREATE TABLE seed_metadata (id BIGINT AUTO_INCREMENT PRIMARY KEY, bucket VARCHAR(63),"
    " object_key VARBINARY(1024), size BIGINT, etag VARCHAR(128), content_type VARCHAR(255),"
    " last_modified DATETIME(6), metadata TEXT,"
    # The server stamps the row, so that event-to-row latency needs no client clock.
    " indexed_at DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6)))"
)
INSERT = sa.text(
    "INSERT INTO seed_metadata (bucket, object_key, size, etag, content_type, last_modified,"
    " metadata) VALUES (:bucket, :key, :size, :etag, :type, :modified, :metadata)"
)


def index(s3: Any, sqs: Any, queue_url: str, connection: sa.Connection, limit: float) -> int:
    """Index messages from ``queue_url`` one at a time until ``limit`` are done; how many."""
    done = 0
    while done < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            record = json.loads(message["Body"])["Records"][0]["s3"]
            bucket, key = record["bucket"]["name"], unquote_plus(record["object"]["key"])
            head = s3.head_object(Bucket=bucket, Key=key)
            connection.execute(
                INSERT,
                {
                    "bucket": bucket,
                    "key": key.encode(),
                    "size": head["ContentLength"],
                    "etag": head["ETag"].strip('"'),
                    "type": head.get("ContentType"),
                    "modified": head["LastModified"].replace(tzinfo=None),
                    "metadata": json.dumps(head.get("Metadata", {})),
                },
            )
            connection.commit()
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            done += 1
    return done


def main() -> None:
    queue_url, database_url = sys.argv[1:3]
    # A harness stops it with SIGTERM once it has read its CPU: exit quietly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    engine = create_engine(database_url)
    with engine.connect() as connection:
        index(boto3.client("s3"), boto3.client("sqs"), queue_url, connection, float("inf"))


if __name__ == "__main__":
    main()
