"""The process tree under each pane: alive, CPU and memory, for a few microseconds each.

tmux knows the pane's own process; an agent's real work often happens in its children (a
test run, a build, `git`). A tool run that keeps a child busy is an agent working, however
quiet its screen, so the witness sums CPU over the whole tree before it ever calls an agent
stalled.

Cost matters at 30 panes, so:
- the tree is found from one pass over the process table per sample (each process's parent),
  not one `children(recursive=True)` per pane, which would read the table 30 times;
- the table is read again only every few seconds (or for a new pane); in between, only
  the known members of each tree are read, through `psutil.Process` objects cached between
  samples (forgotten as soon as a process leaves every tree, before its pid can be reused);
- CPU is the change in the tree's total CPU time (user + system of every live member, plus
  what members already reaped from finished children), over the wall time between samples:
  short-lived children (hooks, git) count too, which a per-process `cpu_percent` misses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import psutil

_PROC = "/proc"


@dataclass(frozen=True)
class TreeSample:
    """One pane's process tree at one sample."""

    alive: bool  # the pane's own process exists and is not a zombie
    cpu_percent: float | None  # of one core, summed over the tree; None on the first sample
    rss_bytes: int
    processes: int


def parent_map() -> dict[int, int]:
    """pid -> parent pid for every process, read in one pass.

    On Linux straight from `/proc/<pid>/stat` (what psutil does inside, without building a
    Process per pid); elsewhere through psutil.
    """
    if not os.path.isdir(_PROC):
        return {p.pid: p.info["ppid"] for p in psutil.process_iter(["ppid"])}
    parents: dict[int, int] = {}
    with os.scandir(_PROC) as entries:
        for entry in entries:
            name = entry.name
            if not name.isdigit():
                continue
            try:
                with open(f"{_PROC}/{name}/stat", "rb") as fh:
                    data = fh.read()
            except OSError:
                continue  # gone meanwhile
            # The command name is in parentheses and may hold spaces: parse after the last ')'.
            fields = data[data.rfind(b")") + 2 :].split()
            if len(fields) > 1:
                parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int, children: Mapping[int, list[int]]) -> list[int]:
    """`root` and everything under it, parents before children."""
    found = [root]
    index = 0
    while index < len(found):
        found.extend(children.get(found[index], ()))
        index += 1
    return found


class ProcessTracker:
    """Samples the process trees of many panes; keep one per witness.

    The whole process table is read to (re)discover the trees every `rescan_every`
    seconds, or when a pane's root pid is new; in between only the known members are read
    (one `/proc/<pid>/stat` each, through cached `psutil.Process` objects), and their memory
    every `rss_every` samples. Children that exit between two samples still count: their
    CPU moves into the parent's reaped-children time, which the tree total includes.
    """

    def __init__(self, rescan_every: float = 5.0, rss_every: int = 5) -> None:
        self.rescan_every = rescan_every
        self.rss_every = rss_every
        self._cache: dict[int, psutil.Process] = {}
        self._trees: dict[int, list[int]] = {}  # root pid -> members (root first)
        self._rss: dict[int, int] = {}
        self._last: dict[int, tuple[float, float]] = {}  # root pid -> (wall time, tree CPU s)
        self._scanned_at = float("-inf")
        self._samples = 0
        self.scans = 0

    def _process(self, pid: int) -> psutil.Process | None:
        cached = self._cache.get(pid)
        if cached is not None:
            return cached
        try:
            proc = psutil.Process(pid)
        except psutil.Error:
            return None
        self._cache[pid] = proc
        return proc

    def _rescan(self, roots: Mapping[str, int], now: float) -> None:
        children: dict[int, list[int]] = {}
        for pid, ppid in parent_map().items():
            children.setdefault(ppid, []).append(pid)
        self._trees = {root: descendants(root, children) for root in roots.values()}
        members = {pid for tree in self._trees.values() for pid in tree}
        for pid in set(self._cache) - members:  # left every tree: the pid may be reused
            del self._cache[pid]
        for pid in set(self._rss) - members:
            del self._rss[pid]
        self._scanned_at = now
        self.scans += 1

    def sample(self, roots: Mapping[str, int], *, rescan: bool = False) -> dict[str, TreeSample]:
        """Sample the tree under each named root pid (an agent's pane pid).

        `rescan` reads the process table now: the witness asks for it before it calls an
        agent stalled, so a tool run started since the last scan is never missed.
        """
        now = time.monotonic()
        stale = now - self._scanned_at >= self.rescan_every
        if rescan or stale or any(r not in self._trees for r in roots.values()):
            self._rescan(roots, now)
        self._samples += 1
        read_rss = self._samples % self.rss_every == 1 or self.rss_every <= 1
        results = {name: self._sample_tree(root, now, read_rss) for name, root in roots.items()}
        for pid in set(self._last) - set(roots.values()):
            del self._last[pid]
        return results

    def _sample_tree(self, root: int, now: float, read_rss: bool) -> TreeSample:
        cpu_total = 0.0
        rss = 0
        count = 0
        alive = False
        members = self._trees.get(root, [root])
        for pid in list(members):
            proc = self._process(pid)
            if proc is None:
                members.remove(pid)
                continue
            try:
                if pid == root:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        alive = proc.status() != psutil.STATUS_ZOMBIE
                else:
                    times = proc.cpu_times()
                if read_rss or pid not in self._rss:
                    self._rss[pid] = proc.memory_info().rss
            except psutil.Error:
                self._cache.pop(pid, None)
                members.remove(pid)
                continue
            cpu_total += times.user + times.system + times.children_user + times.children_system
            rss += self._rss.get(pid, 0)
            count += 1
        percent: float | None = None
        last = self._last.get(root)
        if last is not None and now > last[0]:
            percent = max(0.0, cpu_total - last[1]) / (now - last[0]) * 100.0
        self._last[root] = (now, cpu_total)
        return TreeSample(alive=alive, cpu_percent=percent, rss_bytes=rss, processes=count)
