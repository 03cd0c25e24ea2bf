"""The soak benchmark's report, on made-up runs: per-interval latency, growth, errors."""

from __future__ import annotations

from pathlib import Path

from benchmarks.soak import Sample, Soak, growth, interval_rows, log_errors, report


def sample(at: float, *, worker_mb: float = 100.0, events: int = 0, fds: int = 20) -> Sample:
    return Sample(
        at=at,
        depths={"events": events, "tasks": 1, "dead letters": 0},
        rss_mb={"bridge": 50.0, "worker": worker_mb},
        fds={"bridge": 12, "worker": fds},
        connections=7,
        rows=int(at),
        own_connections=4,
    )


def soak(**changes: object) -> Soak:
    # 10 keys a second for 20 s; those of the first 10 s take 100 ms, the others 1 s, and
    # the key sent at 19.9 s has no row.
    sent = {f"k{n}": n / 10 for n in range(200)}
    written = {key: at + (0.1 if at < 10 else 1.0) for key, at in sent.items() if key != "k199"}
    values: dict[str, object] = {
        "rate": 10.0,
        "minutes": 20 / 60,
        "interval": 10.0,
        "rss_bound": 10.0,
        "sent": sent,
        "written": written,
        "samples": [sample(0), sample(10, events=3), sample(20, worker_mb=105.0, fds=21)],
        "errors": [],
        "drain_seconds": 2.5,
    }
    values.update(changes)
    return Soak(**values)  # type: ignore[arg-type]


def test_each_interval_shows_the_latencies_of_the_keys_sent_in_it_and_the_sample_at_its_end() -> (
    None
):
    header, first, second = interval_rows(soak())
    assert header[:6] == ["interval s", "sent", "rows", "p50 ms", "p99 ms", "max ms"]
    assert first == ["0-10", "100", "100", "100", "100", "100", "3", "1", "4", "7", "12", "20"]
    assert second == ["10-20", "100", "99", "1000", "1000", "1000", "0", "1", "4", "7", "12", "21"]


def test_the_report_counts_missing_rows_and_keeps_growth_within_the_bound_unflagged() -> None:
    text = report(soak())
    assert "200 sent, 199 rows, 1 missing" in text
    assert "whole run: p50 100 ms, p99 1000 ms, max 1000 ms" in text
    assert "RSS within 10% for every process" in text
    assert "GROWTH" not in text
    assert "drained 2.5 s after the last notification" in text
    assert "errors in the logs: 0" in text


def test_rss_growth_beyond_the_bound_is_flagged_with_its_process() -> None:
    leaking = [sample(0), sample(20, worker_mb=125.0)]
    text = report(soak(samples=leaking))
    assert "RSS grew beyond 10%: worker" in text
    worker_row = next(line for line in text.splitlines() if line.startswith("worker "))
    assert "+25.0%" in worker_row
    assert "GROWTH > 10%" in worker_row
    assert [g.role for g in growth(leaking) if g.percent > 10] == ["worker"]


def test_a_run_that_did_not_drain_and_logged_errors_says_so() -> None:
    text = report(soak(drain_seconds=None, errors=["worker.log: ERROR boom"]))
    assert "NOT drained within" in text
    assert "errors in the logs: 1" in text
    assert "  worker.log: ERROR boom" in text


def test_errors_are_the_error_lines_and_tracebacks_of_the_logs(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(
        "2026-12-03 INFO ready.\n"
        "2026-12-03 ERROR s3meta.indexing: could not record\n"
        "Traceback (most recent call last):\n"
        "2026-12-03 WARNING retrying\n"
        "2026-12-03 CRITICAL lost\n"
    )
    assert log_errors([log, tmp_path / "absent.log"]) == [
        "worker.log: 2026-12-03 ERROR s3meta.indexing: could not record",
        "worker.log: Traceback (most recent call last):",
        "worker.log: 2026-12-03 CRITICAL lost",
    ]


def test_the_report_says_the_rate_the_feeder_kept_and_flags_one_that_fell_behind() -> None:
    assert "sent at 10.0/s over 0.3 min\n" in report(soak())
    slow = {f"k{n}": n / 5 for n in range(200)}  # 5 a second where 10 were asked
    assert "sent at 5.0/s over 0.7 min (BEHIND the asked 10/s)" in report(soak(sent=slow))
