"""`swarm demo --detach`: the README's first command, end to end on a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarm.demo import demo_tasks


@pytest.mark.slow
def test_demo_merges_every_task(tmp_path: Path, tmux_socket: str) -> None:
    target = tmp_path / "swarm-demo"
    env = {**os.environ, "SWARM_TMUX_SOCKET": tmux_socket}
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", "demo", str(target), "--detach", "--timeout", "240"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tasks = demo_tasks()
    assert f"{len(tasks)} tasks merged into main" in proc.stdout
    log = subprocess.run(
        ["git", "-C", str(target), "log", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for task in tasks:
        assert log.count(task.title) == 1, f"{task.title!r} is not on main exactly once"
    # the gate the demo's refinery runs passes on the merged main
    gate = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-q"],
        cwd=target,
        capture_output=True,
        text=True,
    )
    assert gate.returncode == 0, gate.stderr


def test_demo_refuses_a_folder_with_other_files(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", "demo", str(target), "--detach"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "not empty" in proc.stderr
    assert (target / "notes.txt").read_text() == "mine"
