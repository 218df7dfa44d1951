"""The layout's `worktree` key: files copied and linked, set-up commands run once per
worktree in the polecat's own pane; a failure shows the agent failed, with the reason, and
its task goes back to the queue. Real tmux, git and SQLite."""

from __future__ import annotations

import io
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from swarm.git.repo import git
from swarm.git.setup import SetupFailed, WorktreeSetup, is_done, prepare, record_failure
from swarm.lifecycle import bring_up
from swarm.store import Store
from swarm.work import prepare_task

LAYOUT = """\
runtime: sim
sidebar: {{enabled: false}}
roles:
  polecat: {{count: 1}}
worktree:
  copy: [.env]
  link: [data]
  setup: ["{command}"]
"""


def layout(tmp_path: Path, command: str) -> Path:
    path = tmp_path / "setup.yaml"
    path.write_text(LAYOUT.format(command=command))
    return path


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def pane_text(socket: str, session: str) -> str:
    return subprocess.run(
        ["tmux", "-L", socket, "capture-pane", "-p", "-t", f"={session}:"],
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / ".env").write_text("SECRET=1\n")  # not tracked: a fresh worktree lacks it
    (repo / "data").mkdir()
    (repo / "data" / "big.bin").write_text("x")
    (repo / ".git" / "info" / "exclude").write_text(".env\ndata/\n")
    return repo


def test_setup_runs_once_in_the_pane(project: Path, tmux_socket: str, tmp_path: Path) -> None:
    result = bring_up(str(layout(tmp_path, "echo prepared > ready.txt")), project)
    worktree = project / ".swarm" / "worktrees" / "polecat-1"
    wait_for(lambda: (worktree / "ready.txt").exists(), "the set-up command never ran")
    wait_for(lambda: is_done(worktree), "the set-up was not marked done")
    assert (worktree / ".env").read_text() == "SECRET=1\n" and not (worktree / ".env").is_symlink()
    assert (worktree / "data").is_symlink() and (worktree / "data" / "big.bin").exists()
    shown = pane_text(tmux_socket, result.plan.session)
    assert "swarm: set-up: $ echo prepared > ready.txt" in shown and "set-up done" in shown
    # once per worktree: a second run does nothing
    out = io.StringIO()
    spec = WorktreeSetup((".env",), ("data",), ("echo again >> ready.txt",))
    assert prepare(project, worktree, spec, out) is False and out.getvalue() == ""
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # still parked


def test_a_failed_setup_shows_the_agent_failed_with_why(
    project: Path, tmux_socket: str, tmp_path: Path
) -> None:
    result = bring_up(str(layout(tmp_path, "echo broken deps; exit 7")), project)
    db = result.instance.db_path

    def failed() -> bool:
        with Store.open(db) as store:
            return store.get_agent("polecat-1").state == "dead"

    wait_for(failed, "the agent was never shown failed")
    with Store.open(db) as store:
        detail = store.get_agent("polecat-1").detail
    assert detail == "worktree set-up failed: `echo broken deps; exit 7` exited 7: broken deps"
    assert "exited 7: broken deps" in pane_text(tmux_socket, result.plan.session)


def test_a_failed_setup_puts_the_task_back(project: Path, tmux_socket: str, tmp_path: Path) -> None:
    result = bring_up(str(layout(tmp_path, "exit 7")), project)
    with Store.open(result.instance.db_path) as store:
        task = store.add_task("needs a prepared worktree")
        store.hook_task(task.id, "polecat-1")
        record_failure(result.instance.db_path, "polecat-1", "worktree set-up failed: exit 7")
        assert store.get_task(task.id).status == "open"
        assert store.get_agent("polecat-1").hook is None


def test_no_task_reaches_an_unprepared_worktree(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swarm.instance import SwarmInstance

    state = project / ".swarm"
    instance = SwarmInstance(project, state, "s", "sock", "l", tmp_path / "l.yaml")
    spec = WorktreeSetup(commands=("echo nope; exit 4",))
    monkeypatch.setenv("SWARM_WORKTREE_SETUP", spec.to_json())
    with Store.open(instance.db_path) as store:
        task = store.add_task("x")
    with pytest.raises(SetupFailed, match="exited 4: nope"):
        prepare_task(instance, "polecat-1", task)
    assert "nope" in (state / "logs" / "worktree-setup-polecat-1.log").read_text()
    with pytest.raises(SetupFailed, match="outside the repository"):
        prepare(project, state / "worktrees" / "polecat-1", WorktreeSetup(copy=("../x",)))
