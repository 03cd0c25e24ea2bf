"""The sample notification bodies, kept in tests/fixtures/events.

They are copies of the project's shared/events (the contract); a test checks that the two
stay the same wherever shared/ sits beside the repository.
"""

from pathlib import Path

SAMPLE_EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
SHARED_EVENTS = Path(__file__).resolve().parents[3] / "shared" / "events"
