"""benchmarks/export.py's pure parts: the doubling that fills the table, and its figures."""

from __future__ import annotations

from benchmarks.export import Run, doubling_rounds, growth, report
from s3meta.domain.exports import Format


def test_doubling_reaches_the_rows_asked_for_in_as_few_rounds_as_can() -> None:
    assert doubling_rounds(1) == []
    assert doubling_rounds(5) == [1, 2, 4]
    rounds = doubling_rounds(1_000_000)
    assert len(rounds) == 20
    assert rounds[-1] < 1_000_000 <= rounds[-1] * 2


def test_growth_is_the_large_peak_over_the_small_one() -> None:
    small = Run(Format.PARQUET, 100_000, 10.0, 200 * 1024 * 1024, 1)
    large = Run(Format.PARQUET, 1_000_000, 100.0, 210 * 1024 * 1024, 1)

    assert growth(small, large) == 1.05


def test_the_report_gives_rows_per_second_peak_rss_and_bytes_per_row() -> None:
    run = Run(Format.CSV, 1_000_000, 80.0, 150 * 1024 * 1024, 370 * 1_000_000, 40.0)

    lines = report([run]).splitlines()

    assert lines[0].split() == [
        "format", "rows", "seconds", "rows/s", "CPU", "s", "rows/CPU", "s", "peak", "RSS", "MiB",
        "file", "MiB", "bytes/row",
    ]  # fmt: skip
    assert lines[1].split() == [
        "csv", "1,000,000", "80.0", "12,500", "40.0", "25,000", "150.0", "352.9", "370",
    ]  # fmt: skip
