"""``s3meta serve``: the read-only HTTP API and the browsing page (FastAPI on uvicorn)."""
