"""How one run of ``extract_metadata`` ended, as the attempts table records it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"  # the row now holds what HeadObject returned
    GONE = "gone"  # HeadObject said 404: the row is marked deleted
    SKIPPED = "skipped"  # the row already held newer knowledge: nothing to write
    RETRYING = "retrying"  # a transient failure; another attempt is scheduled
    FAILED = "failed"  # a permanent failure, or the retries ran out


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of the task, for the attempts table."""

    task_id: str
    bucket: str
    key: str
    attempt: int
    outcome: str
    started_at: datetime
    finished_at: datetime
    error_type: str | None = None
    error: str | None = None

    def ended(self, outcome: Outcome, at: datetime) -> Attempt:
        """This attempt, ended at ``at`` with ``outcome``."""
        return replace(self, outcome=outcome, finished_at=at)
