"""s3meta: a queryable record of everything stored in S3."""

__version__ = "0.1.0"
