"""Celery entry point: ``celery -A tasks worker``; ``extract_metadata.delay(bucket, key)``."""

from tasks.app import app
from tasks.extract import extract_metadata

__all__ = ["app", "extract_metadata"]
