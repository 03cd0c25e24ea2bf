"""The ordering rule: which write may replace a row, over every kind of pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3meta.domain.ordering import (
    Knowledge,
    RecordType,
    Snapshot,
    Stamp,
    compare_sequencers,
    is_newer,
    record_type,
)

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
STORED_SEQUENCER = "0055AED6DCD90281E5"
# (sequencer, time) of an incoming write relative to the stored one.
RELATIONS = {
    "older": ("0055AED6DCD90281E4", T0 - timedelta(seconds=5)),
    "same": (STORED_SEQUENCER, T0),
    "newer": ("0055AED6DCD90281E6", T0 + timedelta(seconds=5)),
}
KINDS = ("create", "delete", "requeue")


def stamp(kind: str, sequencer: str | None, time: datetime | None) -> Stamp:
    """A create or delete event carries its sequencer; a manual requeue carries none."""
    return Stamp(None if kind == "requeue" else sequencer, time)


@pytest.mark.parametrize(
    ("stored_kind", "incoming_kind", "relation"), list(product(KINDS, KINDS, RELATIONS))
)
def test_a_write_applies_unless_it_is_older_than_the_row(
    stored_kind: str, incoming_kind: str, relation: str
) -> None:
    stored = stamp(stored_kind, STORED_SEQUENCER, T0)
    sequencer, time = RELATIONS[relation]

    applies = is_newer(stamp(incoming_kind, sequencer, time), stored)

    assert applies is (relation != "older")


@pytest.mark.parametrize("incoming_kind", KINDS)
@pytest.mark.parametrize("relation", list(RELATIONS))
def test_with_a_missing_sequencer_on_either_side_s3_time_decides(
    incoming_kind: str, relation: str
) -> None:
    sequencer, time = RELATIONS[relation]
    stored_without = Stamp(None, T0)

    assert is_newer(stamp(incoming_kind, sequencer, time), stored_without) is (relation != "older")
    assert is_newer(Stamp(None, time), Stamp(STORED_SEQUENCER, T0)) is (relation != "older")


def test_the_sequencer_wins_over_s3_time_when_both_writes_have_one() -> None:
    # S3 times have one-second resolution; the sequencer orders within the second.
    stored = Stamp("0055AED6DCD90281E5", T0 + timedelta(seconds=1))

    assert is_newer(Stamp("0055AED6DCD90281E6", T0), stored) is True
    assert is_newer(Stamp("0055AED6DCD90281E4", T0 + timedelta(seconds=9)), stored) is False


def test_any_write_applies_to_a_key_without_a_row() -> None:
    for kind, relation in product(KINDS, RELATIONS):
        sequencer, time = RELATIONS[relation]
        assert is_newer(stamp(kind, sequencer, time), None) is True


@pytest.mark.parametrize(
    ("incoming", "stored"),
    [(Stamp("01", None), Stamp("01", T0)), (Stamp(None, T0), Stamp(None, None))],
    ids=["incoming-time-unknown", "stored-time-unknown"],
)
def test_an_unknown_time_with_no_sequencer_to_decide_applies(
    incoming: Stamp, stored: Stamp
) -> None:
    assert is_newer(incoming, stored) is True


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E5", 0),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E500", 0),  # right-padded with zeros
        ("0055AED6DCD90281E5", "0055AED6DCD90281E501", -1),
        ("0055AED6DCD90281E6", "0055AED6DCD90281E5FF", 1),
        ("1", "10", 0),
        ("1", "0F", 1),
        ("A", "9", 1),
        ("0055aed6dcd90281e5", "0055AED6DCD90281E5", 0),  # hex digits in either case
    ],
)
def test_sequencers_compare_after_right_padding_the_shorter(a: str, b: str, expected: int) -> None:
    assert compare_sequencers(a, b) == expected
    assert compare_sequencers(b, a) == -expected


HEX = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=24)


@given(a=HEX, b=HEX)
def test_sequencer_order_is_the_order_of_the_zero_padded_numbers(a: str, b: str) -> None:
    width = max(len(a), len(b))
    as_numbers = (int(a.ljust(width, "0"), 16), int(b.ljust(width, "0"), 16))

    assert compare_sequencers(a, b) == (as_numbers[0] > as_numbers[1]) - (
        as_numbers[0] < as_numbers[1]
    )


@given(stamps=st.lists(st.tuples(st.none() | HEX, st.none() | st.integers(0, 100)), max_size=8))
def test_applying_writes_in_any_order_never_lets_an_older_sequencer_replace_a_newer_one(
    stamps: list[tuple[str | None, int | None]],
) -> None:
    stored: Stamp | None = None
    for sequencer, seconds in stamps:
        time = None if seconds is None else T0 + timedelta(seconds=seconds)
        incoming = Stamp(sequencer, time)
        if is_newer(incoming, stored):
            if stored is not None and stored.sequencer and sequencer:
                assert compare_sequencers(sequencer, stored.sequencer) >= 0
            stored = incoming


LIVE = Snapshot(deleted=False, etag="e1", version_id="v1", details=("text/plain",))


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (None, LIVE, RecordType.CREATE),
        (Snapshot(deleted=True), LIVE, RecordType.CREATE),
        (LIVE, Snapshot(False, "e2", "v1", ("text/plain",)), RecordType.CREATE),
        (LIVE, Snapshot(False, "e1", "v2", ("text/plain",)), RecordType.CREATE),
        (LIVE, Snapshot(False, "e1", "v1", ("image/png",)), RecordType.UPDATE_METADATA),
        (LIVE, LIVE, None),
        (LIVE, Snapshot(deleted=True), RecordType.DELETE),
        (None, Snapshot(deleted=True), RecordType.DELETE),
        (Snapshot(deleted=True), Snapshot(deleted=True), None),
    ],
    ids=[
        "new-key",
        "revived",
        "new-content",
        "new-version",
        "metadata-only",
        "unchanged",
        "deleted",
        "removal-of-unknown-key",
        "deleted-again",
    ],
)
def test_the_journal_records_what_a_change_amounts_to(
    before: Snapshot | None, after: Snapshot, expected: RecordType | None
) -> None:
    assert record_type(before, after) == expected


@pytest.mark.parametrize("sequencers", [(None, None), ("0055AED6DCD90281E6", None)])
def test_a_removal_event_replaces_a_removal_found_by_headobject_though_it_came_earlier(
    sequencers: tuple[str | None, str | None],
) -> None:
    incoming_sequencer, stored_sequencer = sequencers
    found_gone = Stamp(stored_sequencer, T0, Knowledge.FOUND_GONE)
    removal = Stamp(incoming_sequencer, T0 - timedelta(seconds=5), Knowledge.REMOVED)

    assert is_newer(removal, found_gone)


def test_an_older_removal_event_by_sequencer_leaves_a_removal_found_by_headobject() -> None:
    found_gone = Stamp(STORED_SEQUENCER, T0, Knowledge.FOUND_GONE)
    stale = Stamp("0055AED6DCD90281E4", T0 - timedelta(seconds=5), Knowledge.REMOVED)

    assert not is_newer(stale, found_gone)


def test_an_earlier_removal_event_leaves_another_removal_event() -> None:
    removed = Stamp(None, T0, Knowledge.REMOVED)
    earlier = Stamp(None, T0 - timedelta(seconds=5), Knowledge.REMOVED)

    assert not is_newer(earlier, removed)


@pytest.mark.parametrize("stored", [Knowledge.REMOVED, Knowledge.FOUND_GONE])
def test_a_removal_found_by_headobject_over_a_deleted_row_is_skipped(stored: Knowledge) -> None:
    deleted = Stamp(STORED_SEQUENCER, T0, stored)
    looked_later = Stamp("0055AED6DCD90281E6", T0 + timedelta(seconds=5), Knowledge.FOUND_GONE)

    assert not is_newer(looked_later, deleted)


@pytest.mark.parametrize("removal", [Knowledge.REMOVED, Knowledge.FOUND_GONE])
def test_an_upload_put_again_within_the_second_of_its_removal_replaces_the_removal(
    removal: Knowledge,
) -> None:
    # Deleted at 10:00:00.600, put again at 10:00:00.900: HeadObject says LastModified
    # 10:00:00, earlier than the removal, but it looked after the removal.
    removed = Stamp(None, T0 + timedelta(milliseconds=600), removal)
    put_again = Stamp(None, T0, looked_at=T0 + timedelta(milliseconds=950))

    assert is_newer(put_again, removed)


@pytest.mark.parametrize("removal", [Knowledge.REMOVED, Knowledge.FOUND_GONE])
def test_an_upload_looked_at_before_its_removal_in_the_same_second_leaves_the_removal(
    removal: Knowledge,
) -> None:
    removed = Stamp(None, T0 + timedelta(milliseconds=600), removal)
    slow_task = Stamp(None, T0, looked_at=T0 + timedelta(milliseconds=200))

    assert not is_newer(slow_task, removed)


def test_an_upload_older_than_the_second_of_a_removal_leaves_it_whenever_it_looked() -> None:
    removed = Stamp(None, T0 + timedelta(seconds=1, milliseconds=600), Knowledge.REMOVED)
    older = Stamp(None, T0, looked_at=T0 + timedelta(seconds=5))

    assert not is_newer(older, removed)
