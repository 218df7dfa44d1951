"""Polecat worktrees: one lasting worktree per polecat, one branch per task.

A polecat's pane always starts in `.swarm/worktrees/<agent>`, so its shell, its agent and
its hooks never have to change directory. Between tasks the worktree sits detached at the
target branch; a task checks out `swarm/<task-id>` (created from the current target, or
kept as it is when the task comes back for another attempt, so no work is thrown away).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from swarm.errors import SwarmError
from swarm.git.repo import GitError, git


def branch_exists(repo: Path, branch: str) -> bool:
    return bool(git(repo, "branch", "--list", branch))


# The one retry policy for making a worktree. A pane's shell prelude
# (runtimes/launch.py `_WORKTREE_PRELUDE`) makes the same worktree with the same policy:
# the controller and the pane may race for it, and a folder deleted by hand leaves a stale
# registration that `git worktree prune` clears before the next attempt.
WORKTREE_ATTEMPTS = 5
WORKTREE_PAUSE = 0.1  # seconds, times the attempt number, between two attempts


def ensure_worktree(repo: Path, path: Path, base_ref: str) -> bool:
    """Make `path` a worktree of `repo` (detached at `base_ref`); True if it was created."""
    for attempt in range(1, WORKTREE_ATTEMPTS + 1):
        if (path / ".git").exists():
            return False  # there already (or made by the agent's pane meanwhile)
        if path.exists():
            # A folder left behind without its git link (a half-made worktree): start over.
            shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            git(repo, "worktree", "add", "--detach", "-q", str(path), base_ref)
            return True
        except GitError:
            if attempt == WORKTREE_ATTEMPTS:
                raise
        git(repo, "worktree", "prune", check=False)
        time.sleep(WORKTREE_PAUSE * attempt)
    return False  # not reached: the last attempt returns or raises


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
