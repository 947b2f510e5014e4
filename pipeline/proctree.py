"""The CPU time of a command and every process it starts, read from /proc.

getrusage(RUSAGE_CHILDREN) counts only children that were waited for; a local Beam
build's worker processes and a forkserver pool are not always, and it missed half
of one build's CPU time (bench/README.md). Here the process tree is walked every
`interval` seconds while the command runs, and each process's last-seen user and
system time is summed: what a process spends after the last walk before it ends
is missed (under `interval` per process; builds' processes live for the job).
The machine's other work does not count, unlike the busy time of /proc/stat.
Linux only (plan falls back to the clock elsewhere).
"""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class TreeTime:
    cpu_s: float       # user + system seconds of the command's whole process tree
    wall_s: float
    returncode: int
    peak_rss: int = 0  # the largest sum of the tree's resident bytes at one walk


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system seconds) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()   # after the command name, which may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _descendants(root: int) -> dict[int, float]:
    """Every live process under `root` (itself included) -> its CPU seconds so far."""
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (s := _stat(int(name))) is not None:
            stats[int(name)] = s
    tree, frontier = {}, [root]
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    while frontier:
        pid = frontier.pop()
        if pid in stats and pid not in tree:
            tree[pid] = stats[pid][1]
            frontier += children.get(pid, [])
    return tree


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def run_measured(argv: list[str], interval: float = 0.1, **popen) -> TreeTime:
    """Runs `argv` to its end; its process tree's CPU seconds, the wall time and the
    peak of the tree's summed resident memory (each sampled every `interval`)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, **popen)
    seen: dict[int, float] = {}
    peak = 0
    while proc.poll() is None:
        tree = _descendants(proc.pid)
        for pid, cpu in tree.items():
            seen[pid] = max(seen.get(pid, 0.0), cpu)
        peak = max(peak, sum(_rss(pid) for pid in tree))
        time.sleep(interval)
    return TreeTime(sum(seen.values()), time.perf_counter() - start, proc.returncode, peak)
