"""Gate slots: run the gate on several candidates at once, each in a worktree of its own.

A gate runs in a folder, so two candidates gated at the same time need two folders. Slot 0
is the refinery's own worktree (nothing is built while gates run); more slots,
`.swarm/worktrees/refinery-gate-<n>`, are made the first time that many jobs are needed and
kept for the next rounds. Only git and the gate run in the worker threads; the caller keeps
the store to itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from swarm.refinery.candidate import CandidateWorktree
from swarm.refinery.gate import DEFAULT_TIMEOUT, GateResult, kill_leftover_gates, run_gate


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
        jobs = max(1, min(jobs, len(shas)))
        slots = [self.slot(i) for i in range(jobs)]
        for slot in slots:
            slot.ensure(shas[0])
        results: list[GateResult] = []
        for start in range(0, len(shas), jobs):
            chunk = shas[start : start + jobs]
            if len(chunk) == 1:
                results.append(self._run_in(slots[0], chunk[0]))
                continue
            with ThreadPoolExecutor(max_workers=len(chunk)) as pool:
                try:
                    results += list(pool.map(self._run_in, slots, chunk))
                except BaseException:  # stopping: end the gates, or the pool waits for them
                    kill_leftover_gates(self.marker)
                    raise
        return results

    def _run_in(self, slot: CandidateWorktree, sha: str) -> GateResult:
        slot.reset_to(sha)
        return run_gate(self.gate, slot.path, marker=self.marker, timeout=self.timeout)
