"""Polecat worktrees: one lasting worktree per polecat, one branch per task.

A polecat's pane always starts in `.swarm/worktrees/<agent>`, so its shell, its agent and
its hooks never have to change directory. Between tasks the worktree sits detached at the
target branch; a task checks out `swarm/<task-id>` (created from the current target, or
kept as it is when the task comes back for another attempt, so no work is thrown away).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from swarm import paths
from swarm.errors import SwarmError
from swarm.git.repo import GitError, git

BRANCH_PREFIX = "swarm/"


def task_branch(task_id: str) -> str:
    return f"{BRANCH_PREFIX}{task_id}"


def worktree_path(state_dir: Path, agent: str) -> Path:
    return paths.worktrees_dir(state_dir) / agent


def branch_exists(repo: Path, branch: str) -> bool:
    return bool(git(repo, "branch", "--list", branch))


def ensure_worktree(repo: Path, path: Path, base_ref: str) -> bool:
    """Make `path` a worktree of `repo` (detached at `base_ref`); True if it was created."""
    if (path / ".git").exists():
        return False
    if path.exists():
        # A folder left behind without its git link (a half-made worktree): start over.
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        git(repo, "worktree", "add", "--detach", "-q", str(path), base_ref)
    except GitError:
        # Registered but deleted by hand: forget the stale entry and try once more.
        git(repo, "worktree", "prune")
        git(repo, "worktree", "add", "--detach", "-q", str(path), base_ref)
    return True


def is_dirty(worktree: Path) -> bool:
    return bool(git(worktree, "status", "--porcelain", "--untracked-files=normal"))


def current_branch(worktree: Path) -> str | None:
    name = git(worktree, "rev-parse", "--abbrev-ref", "HEAD")
    return None if name == "HEAD" else name


def start_task_branch(worktree: Path, branch: str, base_ref: str) -> None:
    """Put the worktree on the task's branch, ready for the agent."""
    if current_branch(worktree) == branch:
        return  # a re-delivery to the same agent: leave its work exactly as it is
    if is_dirty(worktree):
        # Left over from an abandoned attempt whose work is on its own branch; keep a copy.
        git(worktree, "stash", "push", "--include-untracked", "-q", "-m", f"swarm: before {branch}")
    if branch_exists(worktree, branch):
        git(worktree, "checkout", "-q", branch)
    else:
        git(worktree, "checkout", "-q", "-b", branch, base_ref)


def commits_ahead(worktree: Path, base_ref: str) -> int:
    return int(git(worktree, "rev-list", "--count", f"{base_ref}..HEAD"))


def park(worktree: Path, base_ref: str) -> None:
    """Detach the worktree at the target again: the branch stays for the refinery."""
    git(worktree, "checkout", "-q", "--detach", base_ref)


def remove_worktree(repo: Path, path: Path) -> None:
    if path.exists():
        git(repo, "worktree", "remove", "--force", str(path), check=False)
    git(repo, "worktree", "prune", check=False)


def require_clean(worktree: Path, agent: str) -> None:
    if is_dirty(worktree):
        raise SwarmError(
            f"{agent}: uncommitted changes in {worktree}; commit them (or `git stash`) "
            "and run `swarm done` again"
        )
