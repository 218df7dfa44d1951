"""What the refinery needs to know about its swarm, from the plan file and `swarm.json`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from swarm import paths
from swarm.instance import SwarmInstance
from swarm.plan import MergeSpec
from swarm.planfile import read_plan
from swarm.refinery.gate import DEFAULT_TIMEOUT

WORKTREE_NAME = "refinery"


def default_gate_jobs(batch_size: int) -> int:
    """Gate runs at once: `SWARM_GATE_JOBS`, else one per request up to the CPU count."""
    raw = os.environ.get("SWARM_GATE_JOBS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return max(1, min(batch_size, os.cpu_count() or 1, 8))


@dataclass(frozen=True)
class Settings:
    """What the refinery needs to know about its swarm: where it is, the target, and the
    plan's `gate` and `merge` (the layout's own `MergeSpec`, not a copy of its fields)."""

    repo: Path
    state_dir: Path
    target: str
    gate: tuple[str, ...] = ()
    merge: MergeSpec = field(default_factory=MergeSpec)
    gate_jobs: int = 1  # resolved: the command line, `merge.gate_jobs`, or the CPUs
    gate_timeout: float = DEFAULT_TIMEOUT
    remote: str = ""  # a team's refinery: `repo` is the bare mirror of this remote (team.remote)

    @property
    def worktree(self) -> Path:
        return paths.agent_worktree(self.state_dir, WORKTREE_NAME)

    def slot(self, index: int) -> Path:
        """Gate slot 0 is the refinery's worktree; more slots exist for parallel gate jobs."""
        if index == 0:
            return self.worktree
        return paths.agent_worktree(self.state_dir, f"{WORKTREE_NAME}-gate-{index}")

    @property
    def journal_path(self) -> Path:
        return self.state_dir / WORKTREE_NAME / "landing.json"

    @property
    def marker(self) -> str:
        return str(self.state_dir.resolve())


def settings_for(instance: SwarmInstance, gate_jobs: int | None = None) -> Settings:
    """The refinery's settings: the plan's `gate` and `merge` (from the plan file `swarm up`
    wrote, never the layout), the swarm's target.

    Gate jobs: `gate_jobs`, else the layout's `merge.gate_jobs`, else `SWARM_GATE_JOBS`, else
    one per CPU up to the batch size;
    the gate's timeout: `SWARM_GATE_TIMEOUT` seconds, else 30 minutes.
    """
    plan = read_plan(instance.state_dir)
    merge = plan.merge
    return Settings(
        repo=instance.repo,
        state_dir=instance.state_dir,
        target=instance.target_branch,
        gate=plan.gate,
        merge=merge,
        gate_jobs=gate_jobs or merge.gate_jobs or default_gate_jobs(merge.batch_size),
        gate_timeout=_env_seconds("SWARM_GATE_TIMEOUT", DEFAULT_TIMEOUT),
    )


def _env_seconds(name: str, default: float) -> float:
    """A positive number of seconds from the environment, else `default`."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default
