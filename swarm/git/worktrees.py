"""Polecat worktrees: one lasting worktree per polecat, one branch per task.

A polecat's pane always starts in `.swarm/worktrees/<agent>`, so its shell, its agent and
its hooks never have to change directory. Between tasks the worktree sits detached at the
target branch; a task checks out `swarm/<task-id>` (created from the current target, or
kept as it is when the task comes back for another attempt, so no work is thrown away).

A hundred polecats handed tasks at once on two cores: every git process counts. Which
branch a worktree is on is read from its HEAD file (git's own record, no process), and
starting a task is two git processes (stash what was left, check the branch out), not four.
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


_BRANCH_REF = "ref: refs/heads/"


def head_file(worktree: Path) -> Path | None:
    """The worktree's HEAD file: `.git` is a folder (a checkout) or a `gitdir:` pointer (a
    linked worktree)."""
    dot = worktree / ".git"
    if dot.is_dir():
        return dot / "HEAD"
    try:
        pointer = dot.read_text()
    except OSError:
        return None
    if not pointer.startswith("gitdir:"):
        return None
    gitdir = Path(pointer.removeprefix("gitdir:").strip())
    return (gitdir if gitdir.is_absolute() else worktree / gitdir) / "HEAD"


def branch_of_head(head: str) -> str | None:
    """The branch a HEAD file's text names; None when detached (a commit id)."""
    if head.startswith(_BRANCH_REF):
        return head.removeprefix(_BRANCH_REF).strip()
    return None


def current_branch(worktree: Path) -> str | None:
    """The branch checked out in `worktree` (None: detached), from its HEAD file; git is
    asked only when the file is not the plain kind (a reftable repository, say)."""
    path = head_file(worktree)
    try:
        head = path.read_text() if path is not None else ""
    except OSError:
        head = ""
    branch = branch_of_head(head)
    if branch is not None and branch != ".invalid":  # reftable keeps HEAD elsewhere
        return branch
    if head.strip() and all(c in "0123456789abcdef" for c in head.strip()):
        return None  # detached at a commit
    name = git(worktree, "rev-parse", "--abbrev-ref", "HEAD")
    return None if name == "HEAD" else name


def start_task_branch(worktree: Path, branch: str, base_ref: str) -> None:
    """Put the worktree on the task's branch, ready for the agent."""
    if current_branch(worktree) == branch:
        return  # a re-delivery to the same agent: leave its work exactly as it is
    # Anything left over from an abandoned attempt (its work is on its own branch) is kept
    # as a stash; on a clean worktree this does nothing (and is `git status`'s cost).
    git(worktree, "stash", "push", "--include-untracked", "-q", "-m", f"swarm: before {branch}")
    try:
        git(worktree, "checkout", "-q", "-b", branch, base_ref)
    except GitError:
        if not branch_exists(worktree, branch):
            raise
        git(worktree, "checkout", "-q", branch)  # the task is back: its branch as it was


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
