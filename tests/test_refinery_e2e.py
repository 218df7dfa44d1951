"""The demo end to end: 3 sim polecats, 6 tasks (two of them conflicting), every task merged
into main exactly once by the refinery running in its pane."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from swarm.lifecycle import bring_up
from swarm.store import Store
from swarm.tmux.client import Tmux

pytestmark = pytest.mark.slow


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def test_demo_merges_every_task_exactly_once(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo)
    instance = result.instance
    with Store.open(instance.db_path) as store:
        # Two tasks write the same new file from the same main: the second one conflicts, is
        # bounced, starts over from the new main and merges on its next attempt.
        ids = [
            store.add_task(
                f"Shared notes {n}", "Write the shared notes.\n\nsim: conflict SHARED.md\n"
            ).id
            for n in (1, 2)
        ]
        ids += [
            store.add_task(f"Feature {n}", f"```sh\necho 'feature {n}' > feature-{n}.txt\n```\n").id
            for n in range(1, 5)
        ]
        deadline = time.monotonic() + 80
        while True:
            statuses = {t.id: t.status for t in store.list_tasks()}
            if all(statuses[i] == "merged" for i in ids):
                break
            if time.monotonic() > deadline:
                screen = Tmux(instance.socket).run(
                    ("capture-pane", "-p", "-t", f"{instance.session}:demo.3"), check=False
                )
                pytest.fail(f"not all merged after 80s: {statuses}\n{screen}")
            time.sleep(0.3)
        events = store.events()
        tasks = {t.id: t for t in store.list_tasks()}
        requests = store.list_merge_requests()

    merged = Counter(e.task for e in events if e.kind == "task.merged")
    assert all(merged[i] == 1 for i in ids), merged
    assert Counter(mr.task_id for mr in requests if mr.status == "merged") == Counter(ids)
    assert not [mr for mr in requests if mr.status in ("queued", "testing")]
    assert any(e.kind == "merge.bounced" and "SHARED.md" in e.message for e in events)
    history = set(git(repo, "rev-list", "main").split())
    for task_id in ids:
        assert tasks[task_id].merge_sha in history
        assert git(repo, "branch", "--list", f"swarm/{task_id}") == ""  # cleaned up
    for n in range(1, 5):
        assert git(repo, "show", f"main:feature-{n}.txt") == f"feature {n}"
    assert "changed by polecat-" in git(repo, "show", "main:SHARED.md")
    # main was checked out: the person's checkout followed each fast-forward and is clean
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "feature-4.txt").exists()
