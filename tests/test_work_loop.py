"""The work loop end to end: demo swarm, sim polecats, tasks to done, controller crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store

pytestmark = pytest.mark.slow

# The refinery would merge and delete the branches; this loop ends at "queued".
NO_REFINERY = {"roles": {"polecat": {"count": 3}, "refinery": {"count": 0}}}


def swarm_cli(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", *args], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def wait_all_done(store: Store, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        statuses = {t.id: t.status for t in store.list_tasks()}
        if all(statuses[i] == "done" for i in ids):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not all done after {timeout}s: {statuses}")
        time.sleep(0.2)


def check_each_done_once(result: UpResult, ids: list[str]) -> None:
    repo = result.instance.repo
    with Store.open(result.instance.db_path) as store:
        events = store.events()
        done = Counter(e.task for e in events if e.kind == "task.done")
        hooked = Counter(e.task for e in events if e.kind == "task.hooked")
        requests = store.list_merge_requests()
    assert all(done[i] == 1 for i in ids), done
    assert all(hooked[i] == 1 for i in ids), f"a task was handed out twice: {hooked}"
    per_task = Counter(r.task_id for r in requests)
    assert all(per_task[i] == 1 for i in ids) and all(r.status == "queued" for r in requests)
    for task_id in ids:
        log = subprocess.run(
            ["git", "-C", str(repo), "log", "--format=%s", f"main..swarm/{task_id}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert len(log) == 1 and task_id in log[0]


def test_demo_finishes_ten_tasks(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    ids = [
        swarm_cli(repo, "task", "add", f"Feature {n}", "--priority", str(n % 5)) for n in range(10)
    ]
    with Store.open(result.instance.db_path) as store:
        wait_all_done(store, ids, timeout=120)
    check_each_done_once(result, ids)
    # the person's checkout was never touched
    assert (
        subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True
        ).stdout
        == ""
    )


def test_task_body_commands_run_in_the_worktree(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    body = repo.parent / "body.md"
    body.write_text("Add a greeting.\n\n```sh\necho 'hello from the sim' > greeting.txt\n```\n")
    task_id = swarm_cli(repo, "task", "add", "Greeting", "--body", str(body))
    with Store.open(result.instance.db_path) as store:
        wait_all_done(store, [task_id], timeout=60)
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", f"swarm/{task_id}:greeting.txt"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == "hello from the sim\n"


def test_mayor_turns_a_typed_line_into_a_task(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    swarm_cli(repo, "nudge", "mayor", "Write the release notes")
    with Store.open(result.instance.db_path) as store:
        deadline = time.monotonic() + 30
        while not any(t.title == "Write the release notes" for t in store.list_tasks()):
            assert time.monotonic() < deadline, "the mayor never added the task"
            time.sleep(0.2)


def test_controller_killed_mid_run_every_task_done_once(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    body = repo.parent / "slow.md"
    body.write_text("Take a moment.\n\nsim: slow 1\n")
    ids = [swarm_cli(repo, "task", "add", f"Slow job {n}", "--body", str(body)) for n in range(9)]
    pid_file = result.instance.state_dir / "controller.pid"
    with Store.open(result.instance.db_path) as store:
        deadline = time.monotonic() + 30
        while sum(t.status == "done" for t in store.list_tasks()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        first = int(pid_file.read_text())
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not pid_file.exists() or int(pid_file.read_text()) == first:
            assert time.monotonic() < deadline, "the controller did not come back"
            time.sleep(0.1)
        wait_all_done(store, ids, timeout=120)
    check_each_done_once(result, ids)


def test_sling_hands_a_task_to_the_named_polecat(repo: Path, tmux_socket: str) -> None:
    result = bring_up(
        "demo", repo, overrides={"roles": {"polecat": {"count": 2}, "refinery": {"count": 0}}}
    )
    # Keep both polecats busy-free: sling before the controller sees the task as open.
    with Store.open(result.instance.db_path) as store:
        task = store.add_task("Only for polecat-2")
        store.hook_task(task.id, "polecat-2")
        wait_all_done(store, [task.id], timeout=60)
        assert store.get_task(task.id).assignee == "polecat-2"
