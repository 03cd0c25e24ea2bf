"""``s3meta backfill``'s progress without a terminal: a pause is one line, its end another."""

from __future__ import annotations

import pytest

from s3meta.cli.backfill import _Reporter


def test_a_pause_read_many_times_logs_one_line_and_its_end_one_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = _Reporter(None, None, every=1000)

    for waiting in (15, 14, 12):
        reporter.paused(f"paused: task queue q holds {waiting} > 10")
    reporter.paused(None)
    reporter.paused(None)

    assert capsys.readouterr().err.splitlines() == [
        "s3meta: paused: task queue q holds 15 > 10",
        "s3meta: resumed: the task queue has room again",
    ]


def test_a_backfill_that_never_paused_says_nothing_about_pausing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reporter = _Reporter(None, None, every=1000)

    reporter.paused(None)

    assert capsys.readouterr().err == ""
