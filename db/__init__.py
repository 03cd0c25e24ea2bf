"""Persistence: the schema (models), connections (engine) and the queries s3meta runs (store)."""
