"""moto's server and the worker process, re-exported for tests."""

from s3meta.processes import MotoServer, WorkerProcess, free_port, wait_for

__all__ = ["MotoServer", "WorkerProcess", "free_port", "wait_for"]
