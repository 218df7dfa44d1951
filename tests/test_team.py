"""Two machines, one team: a bare git remote, two clones, one PostgreSQL store.

Each "machine" is a clone with its own swarm record (`--store`, `--remote`, `--host`) and its
own real `swarm refinery` process; its polecats are played by this test through the same
code `swarm done` and the controller run (`work.prepare_task`, `work.finish_work`, the
controller's push `team.pushes.Pusher`), so task branches really travel through the
remote. 30 tasks are added from both sides; the machine whose refinery is active is killed
(its refinery's whole process group, and its polecats stop, holding tasks) in the middle of
a batch. The other machine's refinery takes over
after the lease, the lost machine's held tasks come back to the queue and are finished by
the survivor, and in the end every task is merged exactly once into the remote's main,
each first-parent commit of which passes the gate.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import anyio
import pytest

from swarm.config import load_plan
from swarm.instance import SwarmInstance
from swarm.planfile import write_plan
from swarm.store import Store
from swarm.team.hosts import qualified
from swarm.team.pushes import Pusher
from swarm.work import finish_work, prepare_task


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


REPO_ROOT = Path(__file__).resolve().parent.parent
TASKS = 30
LEASE = 3.0  # seconds: how fast the survivor takes over
GATE = 'sleep 0.3; for f in BAD*; do if [ -e "$f" ]; then echo "broken by $f"; exit 1; fi; done'


class Machine:
    def __init__(self, root: Path, remote: Path, host: str, store_url: str) -> None:
        self.host = host
        self.repo = root / host
        subprocess.run(["git", "clone", "-q", str(remote), str(self.repo)], check=True)
        git(self.repo, "config", "user.email", f"{host}@swarm.local")
        git(self.repo, "config", "user.name", host)
        layout = root / f"{host}.yaml"
        layout.write_text(
            "description: team test\nruntime: sim\nroles:\n  polecat: {count: 3}\n"
            "windows:\n  - name: work\n    layout: tiled\n    panes: [polecat]\n"
            f"gate: {json.dumps([GATE])}\n"
            "merge: {strategy: rebase, batch_size: 4, batch_wait: 0}\n"
        )
        self.instance = SwarmInstance(
            repo=self.repo,
            state_dir=self.repo / ".swarm",
            session=f"team-{host}",
            socket=f"team-{host}-none",
            layout_name="team-test",
            layout_path=layout,
            target_branch="main",
            store=store_url,
            remote="origin",
            host=host,
        )
        self.instance.save()
        # What `swarm up` would have written: the refinery reads its settings from the plan.
        write_plan(load_plan(str(layout), self.repo, host=host))
        (self.repo / ".git" / "info" / "exclude").write_text("/.swarm/\n")
        self.store = Store.open(store_url)
        self.agents = [qualified(host, f"polecat-{n}") for n in (1, 2, 3)]
        for agent in self.agents:
            self.store.upsert_agent(agent, "polecat", "sim")
            self.store.set_agent_state(agent, "idle", "")
        self.refinery: subprocess.Popen[bytes] | None = None
        self.alive = True

    def start_refinery(self, log: Path) -> None:
        env = {
            **os.environ,
            "SWARM_HOME": str(self.instance.state_dir),
            "SWARM_GATE_JOBS": "1",
            "SWARM_TEAM_LEASE": str(LEASE),
            "PYTHONPATH": str(REPO_ROOT),
        }
        with log.open("ab") as out:
            self.refinery = subprocess.Popen(
                [sys.executable, "-m", "swarm", "refinery"],
                cwd=self.repo,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its gates too: the whole group dies with the machine
            )

    def kill(self) -> None:
        """The machine disappears: its refinery and gates, at once, and its polecats stop."""
        self.alive = False
        if self.refinery is not None:
            os.killpg(self.refinery.pid, signal.SIGKILL)
            self.refinery.wait(timeout=30)

    def stop(self) -> None:
        if self.refinery is not None and self.refinery.poll() is None:
            os.killpg(self.refinery.pid, signal.SIGTERM)
            self.refinery.wait(timeout=30)
        self.store.close()

    def work(self, claim_only: bool = False) -> int:
        """One round of this machine's polecats: finish what they hold, take new tasks."""
        done = 0
        for agent in self.agents:
            record = self.store.get_agent(agent)
            if record.state == "dead":
                continue
            if record.hook is None:
                if self.store.claim_next_task(agent) is None:
                    continue
                task = self.store.get_task(self.store.get_agent(agent).hook or "")
                prepare_task(self.instance, agent, task)
                if claim_only:
                    continue
            task = self.store.get_task(self.store.get_agent(agent).hook or "")
            path = prepare_task(self.instance, agent, task)
            name = f"{task.id}.txt"
            if not (path / name).exists():
                (path / name).write_text(f"{task.title}\n")
                git(path, "add", name)
                git(path, "commit", "-q", "-m", f"{task.title} ({task.id})")
            finish_work(self.instance, self.store, agent)
            done += 1
        self.push()
        return done

    def push(self) -> None:
        """The controller's part of `swarm done` (swarm.team.pushes): push what this
        machine's polecats finished, which queues it."""

        async def controller_pass() -> None:
            async with anyio.create_task_group() as group:
                Pusher(self.repo, "origin", self.host, lambda _: None).start(self.store, group)

        anyio.run(controller_pass)


def wait_for(check: object, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
            pytest.fail(f"timed out waiting for {what}\n{tails}")
        time.sleep(0.1)


@pytest.mark.slow
def test_team_two_machines_merge_everything_once_through_failover_postgres(
    tmp_path: Path, pg_url: str
) -> None:
    remote = tmp_path / "remote.git"
    seed = tmp_path / "seed"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    git(seed, "config", "user.email", "seed@swarm.local")
    git(seed, "config", "user.name", "seed")
    (seed / "README.md").write_text("# team\n")
    git(seed, "add", "README.md")
    git(seed, "commit", "-q", "-m", "initial commit")
    git(seed, "push", "-q", str(remote), "main")

    a = Machine(tmp_path, remote, "laptop-a", pg_url)
    b = Machine(tmp_path, remote, "laptop-b", pg_url)
    logs = [tmp_path / "refinery-a.log", tmp_path / "refinery-b.log"]
    store = a.store
    try:
        ids = [(a if n % 2 else b).store.add_task(f"task {n}").id for n in range(TASKS)]
        a.start_refinery(logs[0])
        wait_for(
            lambda: (
                (lease := store.get_lease("refinery")) is not None
                and lease.holder == "laptop-a/refinery"
            ),
            60,
            "laptop-a's refinery to take the lease",
            logs,
        )
        b.start_refinery(logs[1])

        # Both machines work until a few tasks are merged and a batch is in the gate.
        def merged() -> int:
            return store.task_counts()["merged"]

        deadline = time.monotonic() + 120
        while not (merged() >= 6 and store.list_merge_requests(["testing"])):
            assert time.monotonic() < deadline, "the first merges did not happen"
            a.work()
            b.work()
            time.sleep(0.05)
        a.work(claim_only=True)  # laptop-a's polecats are holding fresh tasks when it dies
        held_by_a = {
            agent.hook for agent in store.list_agents() if agent.name in a.agents and agent.hook
        }
        a.kill()

        deadline = time.monotonic() + 240
        while merged() < TASKS:
            assert time.monotonic() < deadline, f"only {merged()} of {TASKS} merged"
            b.work()
            time.sleep(0.1)

        lease = store.get_lease("refinery")
        assert lease is not None and lease.holder == "laptop-b/refinery"
        kinds = Counter(event.kind for event in store.events())
        assert kinds["lease.taken"] >= 1 and kinds["team.host_lost"] == 1
        assert kinds["task.merged"] == TASKS
        assert all(store.get_agent(name).state == "dead" for name in a.agents)
        for task_id in held_by_a:
            task = store.get_task(task_id)
            assert task.status == "merged" and "laptop-a was lost" in task.notes
            assert task.assignee is not None and task.assignee.startswith("laptop-b/")

        # The remote's main: every task exactly once, every first-parent commit green.
        check = tmp_path / "check"
        subprocess.run(["git", "clone", "-q", str(remote), str(check)], check=True)
        log = git(check, "log", "--first-parent", "--format=%H %s", "main").splitlines()
        subjects = Counter(line.split(" ", 1)[1] for line in log)
        for n, task_id in enumerate(ids):
            assert subjects[f"task {n} ({task_id})"] == 1, task_id
        for line in log:
            sha = line.split(" ", 1)[0]
            git(check, "checkout", "-q", sha)
            gate = subprocess.run(["sh", "-c", GATE], cwd=check, capture_output=True)
            assert gate.returncode == 0, line
        for task in store.list_tasks():
            assert task.merge_sha is not None
            assert git(check, "merge-base", "--is-ancestor", task.merge_sha, "main") == ""
    finally:
        a.stop()
        b.stop()
