"""Gate slots: run the gate on several candidates at once, each in a worktree of its own.

A gate runs in a folder, so two candidates gated at the same time need two folders. Slot 0
is the refinery's own worktree (nothing is built while gates run); more slots,
`.swarm/worktrees/refinery-gate-<n>`, are made the first time that many jobs are needed and
kept for the next rounds. Only git and the gate run in the worker threads; the caller keeps
the store to itself.

How many gates run at once follows the gate's cost: a gate that computes (a test suite)
gains nothing from more parallel runs than there are cores, they only slow each other down
(8 jobs of a CPU-bound suite on 2 cores were slower than 2); a gate that mostly waits (on a
network, a sleep) may use every job it is given. The cost is measured on the gates run so
far: the CPU seconds their processes used per second they ran. Until measured, a gate is
taken for CPU-bound.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from swarm.refinery.candidate import CandidateWorktree
from swarm.refinery.gate import DEFAULT_TIMEOUT, GateResult, kill_leftover_gates, run_gate

# CPU seconds per gate second below which a gate waits rather than computes: a `sleep` or a
# network wait uses ~0.01; a test suite uses ~1, and still over 0.1 on a machine so loaded
# that it gets a fraction of a core.
LIGHT_GATE = 0.05


def parallel_gates(jobs: int, cores: int, cpu_share: float | None) -> int:
    """Gates to run at once: `jobs`, but no more than the cores unless the gate is light."""
    jobs = max(1, jobs)
    if cpu_share is not None and cpu_share < LIGHT_GATE:
        return jobs
    return max(1, min(jobs, cores))


def children_cpu() -> float:
    """CPU seconds used by this process's finished children (gates, and git in the slots)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class GateSlots:
    def __init__(
        self,
        first: CandidateWorktree,
        path_of: Callable[[int], Path],
        *,
        gate: tuple[str, ...],
        marker: str,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """`first` is slot 0; `path_of(n)` is where slot n >= 1 lives."""
        self._slots = [first]
        self._path_of = path_of
        self.gate = gate
        self.marker = marker
        self.timeout = timeout
        self.cores = os.cpu_count() or 1
        self.cpu_share: float | None = None  # the gate's CPU seconds per second, measured

    def jobs(self, configured: int) -> int:
        """How many gates to run at once, given the configured gate jobs and the gate's cost."""
        return parallel_gates(configured, self.cores, self.cpu_share)

    def slot(self, index: int) -> CandidateWorktree:
        """Slot `index`, made if it does not exist yet (one by one: concurrent
        `git worktree add`s in one repository trip over each other)."""
        first = self._slots[0]
        while len(self._slots) <= index:
            path = self._path_of(len(self._slots))
            self._slots.append(CandidateWorktree(first.repo, path, first.flags))
        return self._slots[index]

    def run(self, shas: Sequence[str], jobs: int) -> list[GateResult]:
        """The gate's verdict on each candidate, `jobs` of them at a time, in order."""
        if not self.gate:
            return [GateResult(True) for _ in shas]  # an empty gate always passes
        jobs = max(1, min(self.jobs(jobs), len(shas)))
        slots = [self.slot(i) for i in range(jobs)]
        for slot in slots:
            slot.ensure(shas[0])
        results: list[GateResult] = []
        for start in range(0, len(shas), jobs):
            chunk = shas[start : start + jobs]
            if len(chunk) == 1:
                slots[0].reset_to(chunk[0])
                spent = children_cpu()  # the gate's own cost, git's excluded
                done = [self._gate_in(slots[0])]
            else:
                with ThreadPoolExecutor(max_workers=len(chunk)) as pool:
                    list(pool.map(CandidateWorktree.reset_to, slots, chunk))
                    spent = children_cpu()
                    try:
                        done = list(pool.map(self._gate_in, slots[: len(chunk)]))
                    except BaseException:  # stopping: end the gates, or the pool waits
                        kill_leftover_gates(self.marker)
                        raise
            self._measure(children_cpu() - spent, sum(r.duration for r in done))
            results += done
        return results

    def _measure(self, cpu: float, gate_seconds: float) -> None:
        """Fold one chunk's CPU per gate-second into the estimate (a moving average)."""
        if gate_seconds <= 0.05:
            return  # too short to say anything
        share = cpu / gate_seconds
        self.cpu_share = share if self.cpu_share is None else (self.cpu_share + share) / 2

    def _gate_in(self, slot: CandidateWorktree) -> GateResult:
        return run_gate(self.gate, slot.path, marker=self.marker, timeout=self.timeout)
