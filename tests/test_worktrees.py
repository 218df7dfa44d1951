"""Making an agent's worktree: the one retry policy (stale registrations, half-made folders)."""

from __future__ import annotations

import shutil
from pathlib import Path

from swarm import paths
from swarm.git.worktrees import ensure_worktree


def test_a_worktree_deleted_by_hand_or_half_made_is_made_again(repo: Path) -> None:
    path = paths.agent_worktree(paths.state_dir(repo), "polecat-1")
    assert ensure_worktree(repo, path, "main") is True
    assert ensure_worktree(repo, path, "main") is False  # there already
    shutil.rmtree(path)  # still registered with git: the first `worktree add` fails
    path.mkdir()
    (path / "left-over.txt").write_text("half made\n")
    assert ensure_worktree(repo, path, "main") is True
    assert (path / "README.md").is_file() and not (path / "left-over.txt").exists()
