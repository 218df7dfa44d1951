"""Looking at an agent's work from the sidebar or the CLI: its branch as a diff summary,
and a shell in its worktree (a new window of the swarm, so the agent's pane is left alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swarm import paths
from swarm.errors import NotFoundError
from swarm.git.repo import git
from swarm.instance import SwarmInstance
from swarm.text import shorten
from swarm.tmux.client import Tmux


@dataclass(frozen=True)
class FileChange:
    path: str
    added: int | None  # None: binary
    removed: int | None


@dataclass(frozen=True)
class DiffSummary:
    branch: str
    base: str
    files: tuple[FileChange, ...]

    @property
    def added(self) -> int:
        return sum(f.added or 0 for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed or 0 for f in self.files)

    def line(self, width: int = 200) -> str:
        """`swarm/sw-1 vs main: 2 files +12 −3: a.py +10 −3, b.py +2 −0`."""
        head = f"{self.branch} vs {self.base}: "
        if not self.files:
            return head + "no changes yet"
        parts = [
            f"{f.path} " + ("binary" if f.added is None else f"+{f.added} −{f.removed}")
            for f in self.files
        ]
        count = len(self.files)
        text = f"{head}{count} file{'s' if count != 1 else ''} +{self.added} −{self.removed}: "
        return shorten(text + ", ".join(parts), width)


def parse_numstat(text: str) -> tuple[FileChange, ...]:
    changes = []
    for line in text.splitlines():
        added, removed, path = [*line.split("\t", 2), "", ""][:3]
        if not path:
            continue
        binary = added == "-"
        changes.append(
            FileChange(path, None if binary else int(added), None if binary else int(removed))
        )
    return tuple(changes)


def agent_worktree(instance: SwarmInstance, agent: str) -> Path:
    path = paths.agent_worktree(instance.state_dir, agent)
    if not (path / ".git").exists():
        raise NotFoundError(f"{agent} has no worktree (only polecats have one)")
    return path


def diff_summary(instance: SwarmInstance, agent: str) -> DiffSummary:
    """What the agent's checkout changes against the target: commits and uncommitted edits."""
    worktree = agent_worktree(instance, agent)
    target = instance.target_branch
    branch = git(worktree, "rev-parse", "--abbrev-ref", "HEAD")
    base = git(worktree, "merge-base", target, "HEAD", check=False) or target
    numstat = git(worktree, "diff", "--numstat", base)
    untracked = git(worktree, "ls-files", "--others", "--exclude-standard")
    files = parse_numstat(numstat) + tuple(
        FileChange(path, len(_lines(worktree / path)), 0) for path in untracked.splitlines()
    )
    return DiffSummary("detached" if branch == "HEAD" else branch, target, files)


def _lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().splitlines()
    except OSError:
        return []


def open_shell(instance: SwarmInstance, agent: str) -> str:
    """A new window of the swarm with a shell in the agent's worktree, focused."""
    worktree = agent_worktree(instance, agent)
    name = f"sh-{agent}"
    Tmux(instance.socket).run(
        ("new-window", "-t", f"={instance.session}:", "-n", name, "-c", str(worktree))
    )
    return f"{agent}: a shell in {worktree} (window {name}; exit closes it)"
