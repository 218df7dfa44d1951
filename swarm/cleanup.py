"""`swarm down --clean`: stop the swarm and remove what it made in the repository.

What goes: every git worktree under `.swarm/` (polecats', the refinery's), the `swarm/…`
branches of tasks that were merged (their work is on the target), and the state folder.
What stays: the person's checkout and the branches of work that never merged, so nothing
a person might still want is lost. The plan is computed first and shown, so the person
confirms exactly what will be removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from swarm.git.repo import git
from swarm.instance import SwarmInstance
from swarm.store import Store
from swarm.store.ids import BRANCH_PREFIX


@dataclass(frozen=True)
class CleanPlan:
    worktrees: tuple[Path, ...]
    branches: tuple[str, ...]  # merged tasks' branches: removed
    kept: tuple[str, ...]  # branches with work that never merged: kept
    state_dir: Path

    def describe(self) -> list[str]:
        lines = [f"{len(self.worktrees)} worktree(s) under {self.state_dir}"]
        lines.append(
            f"{len(self.branches)} merged branch(es)"
            + (f": {', '.join(self.branches[:4])}" if self.branches else "")
            + (" …" if len(self.branches) > 4 else "")
        )
        lines.append(f"the state folder {self.state_dir} (tasks, merge queue, events)")
        if self.kept:
            lines.append(f"kept: {len(self.kept)} unmerged branch(es): {', '.join(self.kept[:4])}")
        return lines


def swarm_worktrees(repo: Path, state_dir: Path) -> list[Path]:
    """The repository's worktrees that live in the swarm's state folder."""
    out = git(repo, "worktree", "list", "--porcelain", check=False)
    found: list[Path] = []
    root = state_dir.resolve()
    for line in out.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree ")).resolve()
            if path.is_relative_to(root):
                found.append(path)
    return found


def clean_plan(instance: SwarmInstance) -> CleanPlan:
    repo = instance.repo
    target = instance.target_branch
    merged_ids: set[str] = set()
    if instance.db_path.exists():
        with Store.open(instance.db_path) as store:
            merged_ids = {t.id for t in store.list_tasks(["merged"])}
    listed = git(repo, "branch", "--list", f"{BRANCH_PREFIX}*", "--format=%(refname:short)")
    merged_into = set(
        git(
            repo,
            "branch",
            "--list",
            f"{BRANCH_PREFIX}*",
            "--merged",
            target,
            "--format=%(refname:short)",
            check=False,
        ).splitlines()
    )
    remove: list[str] = []
    keep: list[str] = []
    for branch in listed.splitlines():
        task_id = branch.removeprefix(BRANCH_PREFIX)
        (remove if task_id in merged_ids or branch in merged_into else keep).append(branch)
    return CleanPlan(
        worktrees=tuple(swarm_worktrees(repo, instance.state_dir)),
        branches=tuple(remove),
        kept=tuple(keep),
        state_dir=instance.state_dir,
    )


def remove(instance: SwarmInstance, plan: CleanPlan) -> list[str]:
    """Carry the plan out (the swarm is stopped first); one line per step."""
    from swarm.lifecycle import bring_down

    lines = []
    if bring_down(instance):
        lines.append(f"swarm {instance.session} stopped")
    for path in plan.worktrees:
        git(instance.repo, "worktree", "remove", "--force", str(path), check=False)
    git(instance.repo, "worktree", "prune", check=False)
    lines.append(f"removed {len(plan.worktrees)} worktree(s)")
    for branch in plan.branches:
        git(instance.repo, "branch", "-D", branch, check=False)
    lines.append(f"removed {len(plan.branches)} merged branch(es)")
    shutil.rmtree(plan.state_dir, ignore_errors=True)
    lines.append(f"removed {plan.state_dir}")
    if plan.kept:
        lines.append(f"kept {len(plan.kept)} unmerged branch(es): {', '.join(plan.kept)}")
    return lines
