"""The target branch: read its tip, move it by one fast-forward, delete merged task branches.

The target only ever moves forward, atomically, to a commit that passed the gate:

- If the branch is checked out somewhere (usually the person's own checkout of `main`),
  `git merge --ff-only <sha>` there: exactly what fast-forwarding that checkout means. Git
  refuses if the person's uncommitted changes would be overwritten; the refinery then waits
  and tries again, it never forces.
- Otherwise `git update-ref refs/heads/<target> <new> <old>`: a compare-and-swap, so a
  branch that moved since the candidate was built is never overwritten.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from swarm import sandbox
from swarm.git.repo import GitError, git


@dataclass(frozen=True)
class Advance:
    """What became of one attempt to fast-forward the target."""

    ok: bool
    moved: bool = False  # the target is no longer where the candidate was built
    reason: str = ""  # why git refused, in its words


def tip(repo: Path, branch: str) -> str:
    """The target's tip; a missing target is an error the person must fix, said plainly."""
    found = branch_tip(repo, branch)
    if found is None:
        raise GitError(f"{repo}: there is no branch '{branch}' to merge into")
    return found


def branch_tip(repo: Path, branch: str) -> str | None:
    """The commit a branch points at, or None if there is no such branch."""
    out = git(repo, "rev-parse", "--verify", "-q", f"refs/heads/{branch}^{{commit}}", check=False)
    return out.strip() or None


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer], capture_output=True
    )
    return proc.returncode == 0


def checked_out_in(repo: Path, branch: str) -> Path | None:
    """The worktree (the main checkout or a linked one) that has `branch` checked out."""
    listing = git(repo, "worktree", "list", "--porcelain")
    current: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            current = Path(line[len("worktree ") :])
        elif line == f"branch refs/heads/{branch}" and current is not None:
            return current
    return None


def fast_forward(repo: Path, branch: str, old: str, new: str) -> Advance:
    """Move `branch` from `old` to `new`, only as a fast-forward and only from `old`."""
    if not is_ancestor(repo, old, new):
        return Advance(False, reason=f"{new[:12]} is not a fast-forward of {old[:12]}")
    try:  # confined polecats keep their objects in .swarm: landed ones move in first
        sandbox.keep_objects(repo, old, new)
    except (OSError, subprocess.SubprocessError) as exc:
        return Advance(False, reason=str(exc))
    checkout = checked_out_in(repo, branch)
    if checkout is None:
        proc = subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "update-ref",
                "-m",
                "swarm refinery: fast-forward",
                f"refs/heads/{branch}",
                new,
                old,
            ],
            capture_output=True,
            text=True,
        )
    else:
        if branch_tip(repo, branch) != old:
            return Advance(
                False, moved=True, reason=f"{branch} moved since the candidate was built"
            )
        proc = subprocess.run(
            ["git", "-C", str(checkout), "merge", "--ff-only", "-q", new],
            capture_output=True,
            text=True,
        )
    if proc.returncode == 0 and branch_tip(repo, branch) == new:
        return Advance(True)
    moved = branch_tip(repo, branch) != old
    words = (proc.stderr or proc.stdout).strip() or "git refused the fast-forward"
    where = f" in {checkout}" if checkout is not None else ""
    return Advance(False, moved=moved, reason=f"{_squash(words)}{where}")


def delete_branch(repo: Path, branch: str, expected: str) -> bool:
    """Delete a merged task branch if it still points at what was merged and nobody has it
    checked out (a polecat's worktree is parked detached after `swarm done`)."""
    if branch_tip(repo, branch) != expected or checked_out_in(repo, branch) is not None:
        return False
    proc = subprocess.run(
        ["git", "-C", str(repo), "update-ref", "-d", f"refs/heads/{branch}", expected],
        capture_output=True,
    )
    return proc.returncode == 0


def _squash(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:500]
