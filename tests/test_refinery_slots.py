"""Gate slots run as many gates at once as the gate's cost allows: a computing gate no more
than the cores, a waiting gate every job it is given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from swarm.refinery.candidate import CandidateWorktree
from swarm.refinery.slots import LIGHT_GATE, GateSlots, parallel_gates

BUSY = (
    f"{sys.executable} -c 'import time\nend = time.process_time() + 0.4\n"
    "while time.process_time() < end: pass'"
)


def test_parallel_gates_follow_the_cores_unless_the_gate_is_light() -> None:
    assert parallel_gates(8, cores=2, cpu_share=None) == 2  # unknown: taken for CPU-bound
    assert parallel_gates(8, cores=2, cpu_share=0.9) == 2
    assert parallel_gates(8, cores=2, cpu_share=LIGHT_GATE / 4) == 8
    assert parallel_gates(1, cores=16, cpu_share=None) == 1
    assert parallel_gates(0, cores=2, cpu_share=0.0) == 1


def slots_for(repo: Path, tmp_path: Path, gate: str) -> GateSlots:
    first = CandidateWorktree(repo, tmp_path / "slot-0")
    return GateSlots(first, lambda n: tmp_path / f"slot-{n}", gate=(gate,), marker=str(tmp_path))


def test_the_gate_cost_is_measured_from_its_runs(repo: Path, tmp_path: Path) -> None:
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    waiting = slots_for(repo, tmp_path / "w", "sleep 0.4")
    assert all(r.passed for r in waiting.run([head, head], jobs=8))
    assert waiting.cpu_share is not None and waiting.cpu_share < LIGHT_GATE
    assert waiting.jobs(8) == 8

    computing = slots_for(repo, tmp_path / "c", BUSY)
    assert all(r.passed for r in computing.run([head], jobs=8))
    assert computing.cpu_share is not None and computing.cpu_share > LIGHT_GATE
    assert computing.jobs(8) == min(8, computing.cores)
