"""Git work in the refinery's own worktrees: stacking requests into a candidate commit.

The refinery never builds anything in the person's checkout or a polecat's worktree. Its
worktree `.swarm/worktrees/refinery` sits detached; a candidate is made there by applying
each request onto the previous one:

- `rebase`: cherry-pick the request's own commits (`target..head`, merges left out, as
  `git rebase` does) onto the candidate, keeping author and message; a request of several
  commits is squashed into one, because only its end state passes through the gate and
  every commit on the target must be one the gate passed;
- `merge`: `git merge --no-ff` the request's head, so the target's first-parent history
  holds one merge commit per task.

A conflict is read from the index (`git diff --name-only --diff-filter=U`), the operation is
aborted, and the candidate is exactly what it was before that request. The refinery's git
commands run without the person's hooks (the gate is the check) and, where the person has no
git identity, as `swarm-refinery <refinery@swarm.local>`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from swarm.git.repo import GitError, git

IDENTITY = ("-c", "user.name=swarm-refinery", "-c", "user.email=refinery@swarm.local")
NO_HOOKS = ("-c", "core.hooksPath=/dev/null")
# Files whose presence in the git dir means an operation was left half-done.
_IN_PROGRESS = {
    "CHERRY_PICK_HEAD": ("cherry-pick", "--abort"),
    "sequencer": ("cherry-pick", "--quit"),
    "MERGE_HEAD": ("merge", "--abort"),
    "REVERT_HEAD": ("revert", "--abort"),
    "rebase-merge": ("rebase", "--abort"),
    "rebase-apply": ("rebase", "--abort"),
}


@dataclass(frozen=True)
class Applied:
    """A request applied cleanly; `sha` is the candidate after its own commits."""

    sha: str
    commits: int  # 0: the request was already contained in the candidate


@dataclass(frozen=True)
class Conflict:
    """A request that does not apply: the files git could not merge."""

    files: tuple[str, ...]
    detail: str = ""  # git's own words when no file is named


def commit_flags(repo: Path) -> tuple[str, ...]:
    """`-c` options every commit-making command of the refinery runs with."""
    email = git(repo, "config", "user.email", check=False).strip()
    return NO_HOOKS if email else NO_HOOKS + IDENTITY


def _git_run(cwd: Path, flags: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *flags, "-C", str(cwd), *args], capture_output=True, text=True)


class CandidateWorktree:
    """One detached worktree the refinery owns (the builder, or a gate slot)."""

    def __init__(self, repo: Path, path: Path, flags: tuple[str, ...] = NO_HOOKS) -> None:
        self.repo = repo
        self.path = path
        self.flags = flags

    def ensure(self, ref: str) -> None:
        """Make the worktree exist (detached at `ref`); a half-made folder is started over."""
        if (self.path / ".git").exists():
            return
        if self.path.exists():
            shutil.rmtree(self.path)
        git(self.repo, "worktree", "prune")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        git(self.repo, "worktree", "add", "--detach", "-q", str(self.path), ref)

    def abort_in_progress(self) -> list[str]:
        """Abort any cherry-pick, merge or rebase left half-done; what was aborted."""
        if not (self.path / ".git").exists():
            return []
        aborted: list[str] = []
        for name, command in _IN_PROGRESS.items():
            marker = Path(git(self.path, "rev-parse", "--git-path", name, check=False))
            if not marker.is_absolute():
                marker = self.path / marker
            if marker.exists():
                git(self.path, *command, check=False)
                aborted.append(command[0])
                if marker.exists() and marker.is_dir():
                    shutil.rmtree(marker, ignore_errors=True)
                elif marker.exists():
                    marker.unlink()
        return aborted

    def reset_to(self, sha: str) -> None:
        """Detach at `sha` with nothing else in the folder: a clean, known state."""
        self.ensure(sha)
        self.abort_in_progress()
        git(self.path, "checkout", "-q", "--detach", "--force", sha)
        git(self.path, "clean", "-ffdqx")

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD")

    def tree(self, ref: str = "HEAD") -> str:
        return git(self.path, "rev-parse", f"{ref}^{{tree}}")

    def apply(
        self, head: str, exclude: str, strategy: str, summary: str, branch: str
    ) -> Applied | Conflict:
        """Apply the request whose tip is `head` (its base: what `exclude` contains).

        `summary` is one line naming the task; it titles a merge commit or a squash.
        """
        if strategy == "merge":
            return self._merge(head, f"Merge {branch}: {summary}")
        return self._cherry_pick(head, exclude, summary, branch)

    def _cherry_pick(
        self, head: str, exclude: str, summary: str, branch: str
    ) -> Applied | Conflict:
        listed = git(self.path, "rev-list", "--reverse", "--no-merges", head, f"^{exclude}")
        commits = [c for c in listed.split() if c]
        if not commits:
            return Applied(self.head(), 0)
        before = self.head()
        proc = _git_run(
            self.path,
            self.flags,
            "cherry-pick",
            "--allow-empty",
            "--keep-redundant-commits",
            *commits,
        )
        if proc.returncode != 0:
            return self._conflict(proc, ("cherry-pick", "--abort"))
        if len(commits) > 1:
            self._squash(before, commits, summary, branch)
        return Applied(self.head(), len(commits))

    def _squash(self, before: str, commits: list[str], summary: str, branch: str) -> None:
        """Several commits of one request become one: only the request's end state was gated,
        so only it may become a commit on the target (green at every commit)."""
        subjects = git(self.path, "log", "--reverse", "--format=  - %s", f"{before}..HEAD")
        author = git(self.path, "log", "-1", "--format=%an <%ae>", commits[-1])
        message = f"{summary}\n\nSquashed from {len(commits)} commits of {branch}:\n{subjects}\n"
        git(self.path, "reset", "-q", "--soft", before)
        proc = _git_run(
            self.path,
            self.flags,
            "commit",
            "-q",
            "--allow-empty",
            "--author",
            author,
            "-m",
            message,
        )
        if proc.returncode != 0:
            raise GitError(f"git commit (squash) failed: {_first_line(proc.stderr or proc.stdout)}")

    def _merge(self, head: str, message: str) -> Applied | Conflict:
        before = self.head()
        proc = _git_run(self.path, self.flags, "merge", "--no-ff", "--no-edit", "-m", message, head)
        if proc.returncode == 0:
            after = self.head()
            return Applied(after, 0 if after == before else 1)
        return self._conflict(proc, ("merge", "--abort"))

    def _conflict(self, proc: subprocess.CompletedProcess[str], abort: tuple[str, ...]) -> Conflict:
        files = tuple(
            f
            for f in git(
                self.path, "diff", "--name-only", "--diff-filter=U", check=False
            ).splitlines()
            if f
        )
        git(self.path, *abort, check=False)
        self.abort_in_progress()
        detail = (proc.stderr or proc.stdout).strip()
        if not files:
            # Not a content conflict: git itself failed (identity, disk, a broken object).
            raise GitError(f"git could not apply a request in {self.path}: {_first_line(detail)}")
        return Conflict(files, detail)


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "no output"
