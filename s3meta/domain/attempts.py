"""How one run of ``extract_metadata`` ended."""

from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"  # the row now holds what HeadObject returned
    GONE = "gone"  # HeadObject said 404: the row is marked deleted
    SKIPPED = "skipped"  # the row already held newer knowledge: nothing to write
    RETRYING = "retrying"  # a transient failure; another attempt is scheduled
    FAILED = "failed"  # a permanent failure, or the retries ran out
