"""CPU and memory of processes and the machine, read from Linux's /proc."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcStat:
    """What /proc/PID/stat says of one process: CPU in seconds, RSS in bytes."""

    pid: int
    ppid: int
    own: float  # user + system CPU of the process's threads
    reaped: float  # user + system CPU of its children that exited and were waited for
    rss: int


def read_stat(pid: int) -> ProcStat | None:
    """``pid``'s figures; None once it has exited."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name, in parentheses, may hold spaces and parentheses itself.
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        own=(utime + stime) / _TICK,
        reaped=(cutime + cstime) / _TICK,
        rss=int(fields[21]) * _PAGE,
    )


def _all_pids() -> Iterator[int]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def descendants(pid: int) -> list[ProcStat]:
    """The live children of ``pid``, their children, and so on."""
    stats = [stat for stat in map(read_stat, _all_pids()) if stat is not None]
    found: list[ProcStat] = []
    parents = {pid}
    while layer := [stat for stat in stats if stat.ppid in parents]:
        found += layer
        parents = {stat.pid for stat in layer}
    return found


@dataclass(frozen=True)
class TreeCpu:
    """CPU seconds of a process tree: the root's own, and all of its descendants'."""

    root: float
    children: float

    @property
    def total(self) -> float:
        return self.root + self.children


def tree_cpu(pid: int) -> TreeCpu:
    """CPU so far of ``pid`` and every descendant, live or exited and reaped."""
    root = read_stat(pid)
    if root is None:
        return TreeCpu(0.0, 0.0)
    children = root.reaped + sum(stat.own + stat.reaped for stat in descendants(pid))
    return TreeCpu(root.own, children)


def command_line(pid: int) -> list[str]:
    """``pid``'s arguments; empty once it has exited."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def machine_busy() -> float:
    """CPU seconds all cores have spent not idle since boot."""
    fields = [int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    # guest time is already counted in user and nice.
    return (user + nice + system + irq + softirq + steal) / _TICK


def proportional_set(pid: int) -> int | None:
    """``pid``'s PSS in bytes (its resident pages, each shared page divided among the
    processes sharing it), from /proc/PID/smaps_rollup; None once it has exited or if the
    kernel does not say."""
    try:
        text = (PROC / str(pid) / "smaps_rollup").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024  # kB
    return None
