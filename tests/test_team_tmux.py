"""Two real swarms, one team: two tmux servers, sim polecats, one PostgreSQL store, one remote.

Each machine is a clone of a bare remote brought up with `swarm up demo --store … --remote
origin --host …` on its own private tmux socket (3 sim polecats, a witness, a refinery, a
controller each). Tasks are added from both sides; every agent's name carries its machine;
`swarm status` on either side shows the whole team. Then the machine whose refinery is the
active one (laptop-a, unless a loaded test machine let its lease lapse) dies, its tmux
server and every process of its swarm SIGKILLed, while a batch is in the gate: the other
machine's refinery takes over within the lease, the dead machine's held tasks come back to
the queue and the survivor's polecats finish them. Every task ends merged exactly once into
the remote's main, and each first-parent commit there passes the gate.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from swarm import sandbox
from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


pytestmark = pytest.mark.slow

TASKS = 30
GATE = "sleep 0.5; test ! -e BAD"
LAYOUT = {
    "roles": {"polecat": {"count": 3}},
    "gate": [GATE],
    "merge": {"batch_size": 4, "batch_wait": 0},
    "environment": {"SWARM_TEAM_LEASE": "5", "SWARM_GATE_JOBS": "1"},
}


def clone(remote: Path, path: Path, who: str) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(path)], check=True)
    git(path, "config", "user.email", f"{who}@swarm.local")
    git(path, "config", "user.name", who)
    return path


def swarm_cli(repo: Path, socket: str, *args: str) -> str:
    env = {**os.environ, "SWARM_TMUX_SOCKET": socket}
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", *args], cwd=repo, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def swarm_processes(state_dir: Path) -> list[psutil.Process]:
    """Every process of one swarm (they all carry its SWARM_HOME), never anyone else's."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("SWARM_HOME") == str(state_dir):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def kill_swarm(socket: str, state_dir: Path) -> None:
    """The machine dies: SIGKILL every process of its swarm, then its tmux server."""
    for proc in swarm_processes(state_dir):
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


@pytest.fixture
def sockets() -> Iterator[list[str]]:
    """Two private tmux sockets (two machines); both servers killed afterwards."""
    names = [f"swt-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    yield names
    for name in names:
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


def up(repo: Path, socket: str, host: str, store_url: str, mp: pytest.MonkeyPatch) -> UpResult:
    mp.setenv("SWARM_TMUX_SOCKET", socket)
    return bring_up("demo", repo, overrides=LAYOUT, store_url=store_url, remote="origin", host=host)


def test_team_two_tmux_swarms_share_one_queue_and_survive_a_lost_machine_postgres(
    tmp_path: Path, pg_url: str, sockets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = clone(remote, tmp_path / "seed", "seed")
    (seed / "README.md").write_text("# team\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "initial commit")
    git(seed, "push", "-q", "origin", "HEAD:main")
    repo_a = clone(remote, tmp_path / "a", "laptop-a")
    repo_b = clone(remote, tmp_path / "b", "laptop-b")

    a = up(repo_a, sockets[0], "laptop-a", pg_url, monkeypatch)
    store = Store.open(pg_url)
    try:
        deadline = time.monotonic() + 60
        while (lease := store.get_lease("refinery")) is None:  # laptop-a's refinery first
            assert time.monotonic() < deadline, "no refinery took the team's lease"
            time.sleep(0.1)
        assert lease.holder == "laptop-a/refinery"
        b = up(repo_b, sockets[1], "laptop-b", pg_url, monkeypatch)

        sides = [(repo_a, sockets[0]), (repo_b, sockets[1])] * 3  # from either machine
        ids = [
            swarm_cli(repo, s, "task", "add", f"Team task {n}") for n, (repo, s) in enumerate(sides)
        ]
        ids += [store.add_task(f"Team task {n}").id for n in range(len(ids), TASKS)]

        names = {agent.name for agent in store.list_agents()}
        assert {"laptop-a/polecat-1", "laptop-b/polecat-3", "laptop-a/refinery"} <= names
        status = json.loads(swarm_cli(repo_b, sockets[1], "status", "--json"))
        shown = {row["name"] for row in status}
        assert "laptop-a/polecat-2" in shown and "laptop-b/polecat-2" in shown

        def merged() -> int:
            return store.task_counts()["merged"]

        deadline = time.monotonic() + 180
        while not (merged() >= 6 and store.list_merge_requests(["testing"])):
            assert time.monotonic() < deadline, f"only {merged()} merged before the failover"
            time.sleep(0.1)
        lease = store.get_lease("refinery")
        assert lease is not None
        dead = lease.holder.split("/")[0]  # the active refinery's machine is the one to die
        survivor = "laptop-b" if dead == "laptop-a" else "laptop-a"
        machines = {"laptop-a": (sockets[0], a), "laptop-b": (sockets[1], b)}
        held_by_dead = {
            agent.hook
            for agent in store.list_agents(team=True)
            if agent.name.startswith(f"{dead}/") and agent.hook
        }
        assert held_by_dead, f"{dead}'s polecats should be holding work when it dies"
        socket, result = machines[dead]
        kill_swarm(socket, result.instance.state_dir)

        deadline = time.monotonic() + 300
        while merged() < TASKS:
            assert time.monotonic() < deadline, f"only {merged()} of {TASKS} merged"
            time.sleep(0.25)

        lease = store.get_lease("refinery")
        assert lease is not None and lease.holder == f"{survivor}/refinery"
        events = store.events()
        kinds = Counter(event.kind for event in events)
        assert kinds["lease.taken"] >= 1 and kinds["team.host_lost"] == 1
        # The polecats ran confined where bubblewrap works; their machines pushed for them.
        assert kinds["agent.unconfined"] == 0 or sandbox.available() is not None
        assert kinds["task.push_wanted"] >= kinds["merge.queued"] > 0
        merged_per_task = Counter(e.task for e in events if e.kind == "task.merged")
        assert all(merged_per_task[task_id] == 1 for task_id in ids), merged_per_task
        for task_id in held_by_dead:
            task = store.get_task(task_id)
            assert task.status == "merged" and f"{dead} was lost" in task.notes
        assert all(
            agent.state == "dead"
            for agent in store.list_agents(team=True)
            if agent.name.startswith(f"{dead}/")
        )

        check = clone(remote, tmp_path / "check", "check")
        log = git(check, "log", "--first-parent", "--format=%H %s", "main").splitlines()
        subjects = Counter(line.split(" ", 1)[1] for line in log)
        for n, task_id in enumerate(ids):
            assert subjects[f"Team task {n} ({task_id})"] == 1, (task_id, subjects)
        for line in log:
            git(check, "checkout", "-q", line.split(" ", 1)[0])
            assert subprocess.run(["sh", "-c", GATE], cwd=check).returncode == 0, line
    finally:
        store.close()
        for state in (repo_a / ".swarm", repo_b / ".swarm"):
            for proc in swarm_processes(state):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGKILL)
