"""The cost benchmark's report: per-object figures, the ratio s3meta/seed and issue 13's target."""

from __future__ import annotations

import re
from dataclasses import replace

from benchmarks.cost import Options, Phase, RatePhase, _role_label, report

OPTIONS = Options(
    objects=100, repeat=2, latencies=[0.0], designs=["seed", "s3meta"], rate=20,
    rate_objects=50, warmup=10, depth=20, worker_pool="prefork", worker_concurrency=4,
    bridge_concurrency=2, mysql="mysql+pymysql://root@127.0.0.1", timeout=60,
)  # fmt: skip
SEED = Phase(
    design="seed", aws_latency_ms=0.0, objects=100, seconds=4.0, window=4.1, quiet=True,
    cpu={"seed process": 0.6}, moto=2.0, mariadbd=0.1, bench=0.5, busy=4.0,
    requests={"ReceiveMessage[events]": 100, "HeadObject": 100, "DeleteMessage[events]": 100},
    items={"ReceiveMessage[events]": 100}, harness_requests={"SendMessageBatch[events]": 10},
    commands={"INSERT seed_metadata": 100, "COMMIT": 100},
)  # fmt: skip
S3META = Phase(
    design="s3meta", aws_latency_ms=0.0, objects=100, seconds=5.0, window=5.5, quiet=True,
    cpu={"bridge": 0.3, "worker main process": 0.3, "worker pool": 1.2}, moto=2.5,
    mariadbd=None, bench=0.5, busy=7.0,
    requests={"SendMessageBatch[tasks]": 10, "HeadObject": 100},
    items={"SendMessageBatch[tasks]": 100}, harness_requests={},
    commands={"COMMIT": 100, "COM_QUIT": 4},
)  # fmt: skip


def cells_of(text: str) -> dict[str, list[str]]:
    """Each row of the report by its title: the cells after it (columns are 2+ spaces apart)."""
    rows = [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]
    return {row[0]: row[1:] for row in rows}


def test_each_figure_shows_both_designs_their_ratio_and_the_target() -> None:
    rows = cells_of(report([SEED, S3META, replace(SEED, seconds=5.0)], [], OPTIONS))
    # The seed ran twice: 100 objects in 4 s and in 5 s.
    assert rows["throughput, objects/s"] == ["22.5 [20.0..25.0]", "20.0", "0.89x", ">= 1.5x seed"]
    assert rows["CPU ms, the design's processes"] == [
        "6.00 [6.00..6.00]", "18.00", "3.00x", "<= 1.0x seed (aim: 4 ms)"
    ]  # fmt: skip
    assert rows["worker pool"] == ["-", "12.00"]
    assert rows["AWS requests"] == ["3.00 [3.00..3.00]", "1.10", "0.37x", "<= 1.6"]
    assert rows["SendMessageBatch[tasks]"] == ["-", "0.100"]
    assert rows["entries per call"] == ["-", "10.0"]
    # COM_QUIT is listed, but the server does not answer it: no round trip.
    assert rows["MySQL round trips"] == ["2.00 [2.00..2.00]", "1.00", "0.50x", "<= 5"]
    assert rows["COM_QUIT"] == ["-", "0.04"]
    assert rows["CPU ms, mariadbd"] == ["1.00 [1.00..1.00]", "-"]
    assert rows["harness's AWS requests (in moto's CPU)"] == ["0.10 [0.10..0.10]", "0.00"]


def test_a_single_design_is_reported_without_ratios() -> None:
    rows = cells_of(report([S3META], [], replace(OPTIONS, designs=["s3meta"])))
    assert rows["throughput, objects/s"] == ["20.0", ">= 1.5x seed"]
    assert rows["CPU ms, moto"] == ["25.00"]


def test_the_steady_phase_reports_latency_percentiles_and_memory() -> None:
    rates = [
        RatePhase("seed", 0.0, 20, [10.0] * 98 + [500.0, 900.0], {"seed process": 80.0}),
        RatePhase("s3meta", 0.0, 20, [30.0] * 100, {"bridge": 120.0}),
    ]
    rows = cells_of(report([SEED, S3META], rates, OPTIONS))
    assert rows["event-to-row latency p50, ms"] == ["10.0", "30.0", "3.00x"]
    assert rows["event-to-row latency p99, ms"] == ["500.0", "30.0", "0.06x"]
    assert rows["RSS MB, bridge"] == ["-", "120.0"]


def test_queues_are_named_by_their_role() -> None:
    roles = {"tasks-1a2b": "tasks"}
    assert _role_label("ReceiveMessage[tasks-1a2b]", roles) == "ReceiveMessage[tasks]"
    assert _role_label("ReceiveMessage[bench-9@vm.celery.pidbox]", roles) == (
        "ReceiveMessage[pidbox]"
    )
    assert _role_label("ListQueues", roles) == "ListQueues"


def steady_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """Each steady-rate section of the report (by its heading): its rows by title."""
    sections: dict[str, dict[str, list[str]]] = {}
    heading = ""
    lines: list[str] = []
    for line in [*text.splitlines(), "== end"]:
        if line.startswith("=="):
            if heading.startswith("== steady"):
                sections[heading] = cells_of("\n".join(lines))
            heading, lines = line, []
        else:
            lines.append(line)
    return sections


def test_the_steady_phase_at_each_latency_reports_requests_by_operation_and_memory() -> None:
    slow_seed = replace(SEED, aws_latency_ms=15.0, seconds=5.0)
    slow_s3meta = replace(
        S3META, aws_latency_ms=15.0, objects=50, seconds=2.5, busy=5.0,
        requests={"ReceiveMessage[events]": 40, "SendMessageBatch[tasks]": 40,
                  "DeleteMessageBatch[events]": 5, "HeadObject": 50},
        items={"ReceiveMessage[events]": 50, "DeleteMessageBatch[events]": 50},
    )  # fmt: skip
    memory = {"bridge": 100.0, "worker pool child 1": 90.0}
    rates = [
        RatePhase("seed", 0.0, 20, [10.0] * 50, {"seed process": 80.0}, cost=SEED),
        RatePhase("s3meta", 0.0, 20, [40.0] * 50, memory, {"worker pool child 1": 30.0}, S3META),
        RatePhase("seed", 15.0, 20, [60.0] * 50, {"seed process": 80.0}, cost=slow_seed),
        RatePhase("s3meta", 15.0, 20, [90.0] * 50, memory, {"bridge": 95.0}, slow_s3meta),
    ]

    sections = steady_sections(report([], rates, replace(OPTIONS, latencies=[0.0, 15.0])))

    fast, slow = (sections[h] for h in sorted(sections, key=lambda h: " 15 ms" in h))
    assert "0 ms added" in sorted(sections)[0]
    assert fast["event-to-row latency p50, ms"] == ["10.0", "40.0", "4.00x"]
    assert slow["event-to-row latency p99, ms"] == ["60.0", "90.0", "1.50x"]
    assert fast["RSS MB, worker pool child 1"] == ["-", "90.0"]
    assert fast["PSS MB, worker pool child 1"] == ["-", "30.0"]
    assert slow["PSS MB, bridge"] == ["-", "95.0"]
    # Requests per object by operation, for both designs, over the phase.
    assert slow["AWS requests"] == ["3.00", "2.70", "0.90x", "<= 1.6"]
    assert slow["ReceiveMessage[events]"] == ["1.000", "0.800"]
    assert slow["messages per call"] == ["1.0", "1.2"]  # 1.25
    assert slow["DeleteMessageBatch[events]"] == ["-", "0.100"]
    assert slow["entries per call"] == ["-", "10.0"]
    assert slow["throughput, objects/s"] == ["20.0", "20.0", "1.00x", "= 20 (the rate)"]
    # moto's share, per object and of the machine.
    assert slow["CPU ms, moto"] == ["20.00", "50.00", "2.50x"]
    assert slow["moto, % of the machine's CPU"] == ["50", "50"]
    assert fast["CPU ms, moto"] == ["20.00", "25.00", "1.25x"]
