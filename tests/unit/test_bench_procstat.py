"""The benchmark reads processes' CPU and memory from /proc as the kernel accounts them."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.procstat import command_line, descendants, machine_busy, read_stat, tree_cpu

TICK = 1 / os.sysconf("SC_CLK_TCK")


def spin(cpu_seconds: float) -> None:
    until = time.process_time() + cpu_seconds
    while time.process_time() < until:
        pass


def test_the_current_process_cpu_is_what_python_counts_within_a_few_ticks() -> None:
    spin(0.05)
    stat = read_stat(os.getpid())
    process_time = time.process_time()
    assert stat is not None
    assert abs(stat.own - process_time) <= 5 * TICK
    assert stat.ppid == os.getppid()
    assert stat.rss > 1_000_000


def test_a_process_that_has_exited_has_no_figures() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert read_stat(child.pid) is None
    assert command_line(child.pid) == []


def test_a_tree_holds_live_descendants_and_the_cpu_of_reaped_children() -> None:
    before = tree_cpu(os.getpid())
    burn = "import time\nu = time.process_time() + 0.1\nwhile time.process_time() < u: pass"
    subprocess.run([sys.executable, "-c", burn], check=True)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert sleeper.pid in [stat.pid for stat in descendants(os.getpid())]
        assert command_line(sleeper.pid)[1:] == ["-c", "import sys; sys.stdin.read()"]
        after = tree_cpu(os.getpid())
    finally:
        assert sleeper.stdin is not None
        sleeper.stdin.close()
        sleeper.wait()
    assert after.children - before.children >= 0.1 - 2 * TICK
    assert after.total >= after.root > 0


def test_the_machine_busy_time_never_runs_backwards() -> None:
    first = machine_busy()
    spin(0.02)
    assert machine_busy() >= first > 0


def test_a_forked_childs_proportional_set_counts_the_pages_it_shares_by_half() -> None:
    from benchmarks.procstat import proportional_set

    # A page-aligned block touched before the fork is shared, unwritten, by both processes.
    block = bytearray(os.urandom(64 * 2**20))
    hold, release = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only waits to be measured
        os.close(release)
        os.read(hold, 1)  # until the parent closes its end
        os._exit(0)
    os.close(hold)
    try:
        stat, pss = read_stat(child), proportional_set(child)  # it exists once fork returns
        assert stat is not None
        assert pss is not None
        assert stat.rss > len(block)  # the shared block is resident in the child too
        assert pss < stat.rss - len(block) / 4  # but only half of it is the child's share
    finally:
        os.close(release)
        os.waitpid(child, 0)
    assert proportional_set(child) is None
