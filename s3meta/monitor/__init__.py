"""Flower, Celery's web monitor, on s3meta's SQS broker."""
