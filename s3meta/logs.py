"""Logging for s3meta's long-running commands."""

from __future__ import annotations

import logging


def configure_logging(level: int = logging.INFO) -> None:
    """Timestamped lines on stderr; botocore's chatter kept at warnings."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s",
    )
    for noisy in ("botocore", "boto3", "urllib3", "kombu", "celery"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
