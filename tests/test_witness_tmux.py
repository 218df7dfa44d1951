"""The witness on a real swarm: sim agents misbehave, the witness pane notices and recovers.

Each test brings a small swarm up on its own tmux socket (sim mayor and polecats, the
real `swarm witness` in its pane, short health thresholds) and watches the store: every
recovery step is an event with its reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store
from swarm.store.models import Event
from swarm.tmux.client import Tmux

HEALTH = {
    "startup_grace": 3,
    "stall_after": 4,
    "nudge_after": 2,
    "max_restarts": 3,
    "restart_window": 300,
}


def layout(tmp: Path, polecats: int = 2, **polecat: Any) -> Path:
    """A sim swarm: mayor, polecats and the witness in one window, no refinery, no sidebar."""
    role = {"count": polecats, "health": {**HEALTH, **polecat.pop("health", {})}, **polecat}
    data = {
        "runtime": "sim",
        "sidebar": {"enabled": False},
        "environment": {
            "SWARM_NOTIFY_COMMAND": f'echo "$SWARM_NOTIFY_MESSAGE" >> {tmp / "notified.txt"}'
        },
        "roles": {
            "mayor": {"count": 1},
            "polecat": role,
            "witness": {"count": 1},
            "refinery": {"count": 0},
        },
        "windows": [{"name": "main", "layout": "tiled", "panes": ["mayor", "polecat", "witness"]}],
    }
    path = tmp / "witness-test.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


class Swarm:
    def __init__(self, result: UpResult) -> None:
        self.result = result
        self.instance = result.instance
        self.repo = result.instance.repo
        self.store = Store.open(result.instance.db_path)
        self.tmux = Tmux(result.instance.socket)

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "swarm", *args], cwd=self.repo, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def add(self, title: str, body: str = "") -> str:
        path = self.repo.parent / f"body-{time.monotonic_ns()}.md"
        path.write_text(body)
        return self.cli("task", "add", title, "--body", str(path))

    def events(self, kind: str, agent: str | None = None) -> list[Event]:
        return [e for e in self.store.events(agent=agent) if e.kind == kind]

    def wait(self, what: str, check: Callable[[], object], timeout: float = 40.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                log = "\n".join(
                    f"{e.kind} {e.agent} {e.message}" for e in self.store.latest_events(40)
                )
                witness = self.screen("witness")
                pytest.fail(
                    f"timed out waiting for {what}\n--- events\n{log}\n--- witness\n{witness}"
                )
            time.sleep(0.2)

    def status(self, task_id: str) -> str:
        return self.store.get_task(task_id).status

    def pane(self, agent: str) -> str:
        panes = {p.agent: p for p in self.tmux.list_panes(self.instance.session)}
        return panes[agent].pane_id

    def screen(self, agent: str) -> str:
        try:
            return self.tmux.run(("capture-pane", "-p", "-J", "-t", self.pane(agent)), check=False)
        except KeyError:
            return "(no pane)"


@pytest.fixture
def swarm_factory(repo: Path, tmux_socket: str, tmp_path: Path) -> Iterator[Callable[..., Swarm]]:
    made: list[Swarm] = []

    def make(**polecat: Any) -> Swarm:
        result = bring_up(str(layout(tmp_path, **polecat)), repo)
        swarm = Swarm(result)
        made.append(swarm)
        swarm.wait(
            "agents ready",
            lambda: all(a.state == "idle" for a in swarm.store.list_agents(role="polecat")),
        )
        return swarm

    yield make
    for swarm in made:
        swarm.store.close()


def test_a_crash_is_restarted_and_the_hooked_task_finishes(
    swarm_factory: Callable[..., Swarm],
) -> None:
    swarm = swarm_factory(polecats=1)
    task = swarm.add("Crashes once", "sim: crash\n")
    swarm.wait("the task done after the restart", lambda: swarm.status(task) == "done")
    deaths = swarm.events("witness.death", "polecat-1")
    restarts = swarm.events("witness.restart", "polecat-1")
    # The exit status when tmux knew it in time (it learns it when the process is reaped).
    assert len(deaths) == 1 and ("status 3" in deaths[0].message or "(exited)" in deaths[0].message)
    assert len(restarts) == 1 and restarts[0].task == task
    assert swarm.store.get_agent("polecat-1").state != "dead"
    # the same worktree, the same branch: the work was committed on the task's branch
    assert swarm.store.get_task(task).attempts == 1


def test_a_crash_loop_gives_up_releases_the_task_and_escalates(
    swarm_factory: Callable[..., Swarm],
) -> None:
    swarm = swarm_factory(polecats=1, health={"max_restarts": 1})
    task = swarm.add("Always crashes", "sim: crash 99\n")
    swarm.wait("given up", lambda: swarm.events("witness.failed", "polecat-1"))
    agent = swarm.store.get_agent("polecat-1")
    assert agent.state == "dead" and agent.detail.startswith("crash loop")
    released = swarm.store.get_task(task)
    assert released.status == "open" and "crash loop" in released.notes
    escalation = swarm.events("escalation", "polecat-1")
    assert len(escalation) == 1 and task in escalation[0].message
    restarts = swarm.events("witness.restart", "polecat-1")
    assert len(restarts) == 1  # max_restarts: 1, then the second death gives up
    # backoff: the restart waited 2 s after the first death
    first_death = swarm.events("witness.death", "polecat-1")[0]
    assert restarts[0].ts - first_death.ts >= 1.9
    # the mayor is told (the mayor sim turns what it is told into a task)
    swarm.wait("the mayor nudged", lambda: swarm.events("agent.nudged", "mayor"))
    # and the witness leaves the given-up agent dead
    time.sleep(3)
    assert swarm.store.get_agent("polecat-1").state == "dead"
    assert len(swarm.events("witness.restart", "polecat-1")) == 1


def test_a_hang_is_nudged_then_restarted_and_the_task_finishes(
    swarm_factory: Callable[..., Swarm],
) -> None:
    swarm = swarm_factory(polecats=1)
    task = swarm.add("Hangs once", "sim: hang\n")
    swarm.wait("the task done", lambda: swarm.status(task) == "done")
    states = [e.data.get("to") for e in swarm.events("agent.state", "polecat-1")]
    assert "stalled" in states
    nudge = swarm.events("witness.nudge", "polecat-1")
    restart = swarm.events("witness.restart", "polecat-1")
    assert len(nudge) == 1 and "no activity" in nudge[0].message
    assert len(restart) == 1 and "after a nudge" in restart[0].message
    assert restart[0].ts - nudge[0].ts >= 1.9  # nudge_after
    stalled_at = next(
        e for e in swarm.events("agent.state", "polecat-1") if e.data.get("to") == "stalled"
    )
    started = swarm.events("task.started", "polecat-1")[0]
    # stall_after 4 s: never sooner; later by the sim's own last output (it runs at nice 19,
    # slow on a loaded machine) and a few ticks: a generous bound, not a timing claim
    assert 3.5 <= stalled_at.ts - started.ts <= 30


def test_a_permission_prompt_is_told_and_never_answered_by_default(
    swarm_factory: Callable[..., Swarm], tmp_path: Path
) -> None:
    swarm = swarm_factory(polecats=1)
    task = swarm.add("Wants to push", "sim: ask-permission git push origin main\n")
    swarm.wait("waiting", lambda: swarm.store.get_agent("polecat-1").state == "waiting")
    notify = swarm.wait("the person told", lambda: swarm.events("witness.notify", "polecat-1"))
    assert "git push origin main" in notify[0].message
    notified = tmp_path / "notified.txt"
    swarm.wait(
        "the notify command run", lambda: notified.exists() and "git push" in notified.read_text()
    )
    time.sleep(3)  # a few more ticks: still waiting, nothing answered for the person
    assert swarm.store.get_agent("polecat-1").state == "waiting"
    assert not swarm.events("witness.approve")
    assert len(swarm.events("witness.notify", "polecat-1")) == 1
    border = swarm.tmux.run(
        ("show-options", "-p", "-v", "-t", swarm.pane("polecat-1"), "@swarm_state")
    )
    assert border.strip() == "waiting"
    swarm.cli("approve", "polecat-1")
    swarm.wait("the task done", lambda: swarm.status(task) == "done")


def test_an_allowed_prompt_is_auto_approved(swarm_factory: Callable[..., Swarm]) -> None:
    swarm = swarm_factory(polecats=1, permissions={"auto_approve": ["git *"]})
    task = swarm.add("Wants git", "sim: ask-permission git status --short\n")
    swarm.wait("the task done", lambda: swarm.status(task) == "done")
    approved = swarm.events("witness.approve", "polecat-1")
    assert len(approved) == 1 and approved[0].data == {
        "command": "git status --short",
        "pattern": "git *",
    }
    assert not swarm.events("witness.notify", "polecat-1")


def test_slow_agents_and_long_tool_runs_are_never_killed(
    swarm_factory: Callable[..., Swarm],
) -> None:
    swarm = swarm_factory(polecats=2)
    slow = swarm.add("Thinks slowly", "sim: slow 3\n")
    busy = "import time\\nend = time.time() + 9\\nwhile time.time() < end: pass"
    tool = swarm.add(
        "Long test run",
        f"```sh\n{sys.executable} -c \"$(printf '{busy}')\"\necho ran > ran.txt\n```\n",
    )
    swarm.wait(
        "both done",
        lambda: swarm.status(slow) == "done" and swarm.status(tool) == "done",
        timeout=60,
    )
    for kind in ("witness.nudge", "witness.restart", "witness.death"):
        assert not swarm.events(kind), [e.message for e in swarm.events(kind)]
    states = [e.data.get("to") for e in swarm.store.events() if e.kind == "agent.state"]
    assert "stalled" not in states
    # the busy tree was measured: CPU and memory recorded for the sidebar
    agents = swarm.store.list_agents(role="polecat")
    assert all(a.rss_bytes and a.rss_bytes > 0 for a in agents)


def test_a_killed_pane_is_rebuilt_and_takes_work_again(swarm_factory: Callable[..., Swarm]) -> None:
    swarm = swarm_factory(polecats=2)
    old = swarm.pane("polecat-2")
    swarm.tmux.run(("kill-pane", "-t", old))
    swarm.wait("rebuilt", lambda: swarm.events("witness.reconcile"))
    swarm.wait("polecat-2 back", lambda: swarm.store.get_agent("polecat-2").state == "idle")
    assert swarm.pane("polecat-2") != old
    first, second = swarm.add("One", "sim: slow 2\n"), swarm.add("Two", "sim: slow 2\n")
    swarm.wait(
        "both done", lambda: swarm.status(first) == "done" and swarm.status(second) == "done"
    )
    assert {swarm.store.get_task(t).assignee for t in (first, second)} == {"polecat-1", "polecat-2"}


def test_the_witness_watches_the_controller(swarm_factory: Callable[..., Swarm]) -> None:
    swarm = swarm_factory(polecats=1)
    pid_file = swarm.instance.state_dir / "controller.pid"
    # agents report idle as soon as they start, maybe before the controller (built last) runs
    swarm.wait(
        "the controller running",
        lambda: pid_file.read_text().strip().isdigit() if pid_file.exists() else False,
    )
    first = int(pid_file.read_text())
    # the controller's own pane loop dies with it: nothing would restart the controller
    loop_pid = next(
        p.pid for p in swarm.tmux.list_panes(swarm.instance.session) if p.agent == "controller"
    )
    assert loop_pid is not None
    os.kill(loop_pid, signal.SIGKILL)
    os.kill(first, signal.SIGKILL)
    swarm.wait(
        "the controller pane respawned", lambda: swarm.events("witness.respawn", "controller")
    )
    swarm.wait("a new controller", lambda: pid_file.exists() and int(pid_file.read_text()) != first)
    task = swarm.add("After the controller came back")
    swarm.wait("the task done", lambda: swarm.status(task) == "done")


def test_borders_show_state_and_task(swarm_factory: Callable[..., Swarm]) -> None:
    swarm = swarm_factory(polecats=1)
    task = swarm.add("Slow enough to see", "sim: slow 3\n")
    pane = swarm.pane("polecat-1")

    def border() -> tuple[str, str]:
        shown = swarm.tmux.run(
            ("display-message", "-p", "-t", pane, "#{@swarm_state}|#{@swarm_task}")
        )
        state, _, task_id = shown.strip().partition("|")
        return state, task_id

    swarm.wait("border working on the task", lambda: border() == ("working", task))
    swarm.wait("the task done", lambda: swarm.status(task) == "done")
    swarm.wait("border idle", lambda: border()[0] == "idle")


def test_swarm_up_resurrects_the_swarm_after_the_server_is_gone(
    swarm_factory: Callable[..., Swarm], tmp_path: Path
) -> None:
    swarm = swarm_factory(polecats=2)
    held = swarm.add("Held when the server dies", "sim: hang\n")
    waiting = swarm.add("Queued behind it", "sim: slow 1\n")
    swarm.wait("held", lambda: swarm.status(held) == "working")
    holder = swarm.store.get_task(held).assignee
    assert holder is not None
    worktree = swarm.instance.state_dir / "worktrees" / holder
    before = {a.name for a in swarm.store.list_agents()}
    swarm.tmux.kill_server()  # a reboot, a kill-server: every process of the swarm is gone
    assert not swarm.tmux.server_running()

    again = bring_up(str(tmp_path / "witness-test.yaml"), swarm.repo)
    assert again.report.session_created
    assert {a.name for a in swarm.store.list_agents()} == before
    assert swarm.store.get_agent(holder).hook == held  # the hook survived
    assert worktree.is_dir()
    # the held task is handed back to the same agent, in the same worktree and branch
    swarm.wait(
        "both done",
        lambda: swarm.status(held) == "done" and swarm.status(waiting) == "done",
        timeout=60,
    )
    assert swarm.store.get_task(held).assignee == holder
    assert swarm.store.get_task(held).attempts == 1
