"""The process tree under each pane: alive, CPU and memory, for a few microseconds each.

tmux knows the pane's own process; an agent's real work often happens in its children (a
test run, a build, `git`). A tool run that keeps a child busy is an agent working, however
quiet its screen, so the witness sums CPU over the whole tree before it ever calls an agent
stalled.

Cost matters at 30 panes, so:
- the tree is found from one pass over the process table per sample (each process's parent),
  not one `children(recursive=True)` per pane, which would read the table 30 times;
- `psutil.Process` objects are cached between samples (keyed by pid and start time, so a
  reused pid is a new process), and read in `oneshot()` mode;
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
    """Samples the process trees of many panes; keep one per witness."""

    def __init__(self) -> None:
        self._cache: dict[int, psutil.Process] = {}
        self._last: dict[int, tuple[float, float]] = {}  # root pid -> (wall time, tree CPU s)

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

    def sample(self, roots: Mapping[str, int]) -> dict[str, TreeSample]:
        """Sample the tree under each named root pid (an agent's pane pid)."""
        now = time.monotonic()
        children: dict[int, list[int]] = {}
        for pid, ppid in parent_map().items():
            children.setdefault(ppid, []).append(pid)
        seen: set[int] = set()
        results: dict[str, TreeSample] = {}
        for name, root in roots.items():
            results[name] = self._sample_tree(root, children, now, seen)
        # Forget processes that left every tree: their pids may be reused.
        for pid in set(self._cache) - seen:
            del self._cache[pid]
        for pid in set(self._last) - set(roots.values()):
            del self._last[pid]
        return results

    def _sample_tree(
        self, root: int, children: Mapping[int, list[int]], now: float, seen: set[int]
    ) -> TreeSample:
        cpu_total = 0.0
        rss = 0
        count = 0
        alive = False
        for pid in descendants(root, children):
            proc = self._process(pid)
            if proc is None:
                continue
            try:
                with proc.oneshot():
                    if not proc.is_running():  # a reused pid: a different process now
                        del self._cache[pid]
                        proc = self._process(pid)
                        if proc is None:
                            continue
                    status = proc.status()
                    times = proc.cpu_times()
                    memory = proc.memory_info()
            except psutil.Error:
                self._cache.pop(pid, None)
                continue
            seen.add(pid)
            if pid == root:
                alive = status != psutil.STATUS_ZOMBIE
            cpu_total += times.user + times.system + times.children_user + times.children_system
            rss += memory.rss
            count += 1
        percent: float | None = None
        last = self._last.get(root)
        if last is not None and now > last[0]:
            percent = max(0.0, cpu_total - last[1]) / (now - last[0]) * 100.0
        self._last[root] = (now, cpu_total)
        return TreeSample(alive=alive, cpu_percent=percent, rss_bytes=rss, processes=count)
