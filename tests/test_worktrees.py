"""Making an agent's worktree: the one retry policy (stale registrations, half-made folders);
putting it on a task's branch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swarm import paths
from swarm.errors import NotFoundError
from swarm.git.repo import common_dir_of, find_repo, git
from swarm.git.worktrees import current_branch, ensure_worktree, start_task_branch


def test_a_worktree_deleted_by_hand_or_half_made_is_made_again(repo: Path) -> None:
    path = paths.agent_worktree(paths.state_dir(repo), "polecat-1")
    assert ensure_worktree(repo, path, "main") is True
    assert ensure_worktree(repo, path, "main") is False  # there already
    shutil.rmtree(path)  # still registered with git: the first `worktree add` fails
    path.mkdir()
    (path / "left-over.txt").write_text("half made\n")
    assert ensure_worktree(repo, path, "main") is True
    assert (path / "README.md").is_file() and not (path / "left-over.txt").exists()


def test_a_task_branch_is_made_once_and_left_overs_are_stashed_not_lost(repo: Path) -> None:
    path = paths.agent_worktree(paths.state_dir(repo), "polecat-1")
    ensure_worktree(repo, path, "main")
    assert current_branch(path) is None  # parked: detached at the target
    start_task_branch(path, "swarm/t-1", "main")
    assert current_branch(path) == git(path, "rev-parse", "--abbrev-ref", "HEAD") == "swarm/t-1"
    (path / "work.txt").write_text("done for t-1\n")
    git(path, "add", "work.txt")
    git(path, "commit", "-q", "-m", "t-1")
    (path / "scratch.txt").write_text("left over\n")  # an attempt abandoned mid-way
    start_task_branch(path, "swarm/t-2", "main")
    assert current_branch(path) == "swarm/t-2" and not (path / "scratch.txt").exists()
    assert "swarm: before swarm/t-2" in git(path, "stash", "list")
    start_task_branch(path, "swarm/t-1", "main")  # t-1 is back: its branch as it was
    assert (path / "work.txt").read_text() == "done for t-1\n"
    start_task_branch(path, "swarm/t-1", "main")  # handed again: nothing changes
    assert current_branch(path) == "swarm/t-1" and current_branch(repo) == "main"


def test_the_repository_is_found_from_files_as_git_finds_it(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = paths.agent_worktree(paths.state_dir(repo), "polecat-1")
    ensure_worktree(repo, path, "main")
    (path / "deep" / "er").mkdir(parents=True)
    for start in (repo, path, path / "deep" / "er", paths.state_dir(repo)):
        asked = Path(git(start, "rev-parse", "--path-format=absolute", "--git-common-dir"))
        assert common_dir_of(start) == asked.resolve()
        assert find_repo(start) == repo.resolve()
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert common_dir_of(path) is None  # git's discovery is changed: git answers
    assert find_repo(path) == repo.resolve()
    with pytest.raises(NotFoundError):
        find_repo(outside)
