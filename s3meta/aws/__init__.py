"""Adapters around AWS: the rest of s3meta sees project types and errors, not botocore's."""
