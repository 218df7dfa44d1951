"""The resolved plan: `swarm up` writes `.swarm/plan.json`; every other process reads it.

Editing `swarm.yaml` while the swarm runs must change nothing until the next `swarm up`:
a respawned controller, witness or polecat comes back as the plan that was built, and the
next `swarm up` says what changes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil
import pytest

from swarm import paths
from swarm.actions import launch_args
from swarm.config import load_plan
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.lifecycle import bring_up
from swarm.planfile import FORMAT, _decode, _encode, plan_changes, read_plan, write_plan
from swarm.store import Store
from swarm.tmux.client import Tmux

MARK = "edited-after-up"


def layout_data(polecats: int = 2, polecat: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "runtime": "sim",
        "sidebar": {"enabled": False},
        "roles": {
            "mayor": {"count": 1},
            "polecat": {"count": polecats, "health": {"startup_grace": 5}, **(polecat or {})},
            "witness": {"count": 1},
            "refinery": {"count": 0},
        },
        "windows": [{"name": "main", "layout": "tiled", "panes": ["mayor", "polecat", "witness"]}],
    }


def write_layout(repo: Path, data: dict[str, Any]) -> Path:
    path = repo / "swarm.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def wait(what: str, check: Callable[[], object], timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def pid_of(state: Path, name: str) -> int | None:
    try:
        return int((state / f"{name}.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""


def test_plan_file_round_trips_and_is_versioned(repo: Path) -> None:
    plan = load_plan(str(write_layout(repo, layout_data())), repo)
    write_plan(plan)
    assert read_plan(plan.state_dir) == plan
    path = paths.plan_path(plan.state_dir)
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT
    path.write_text(json.dumps({**data, "format": FORMAT + 1}))
    with pytest.raises(SwarmError, match=r"plan format 2 is newer than this swarm reads \(1\)"):
        read_plan(plan.state_dir)
    path.write_text('{"format": 1, "plan": {')
    with pytest.raises(SwarmError, match=r"plan.json:1:\d+: damaged plan"):
        read_plan(plan.state_dir)


@dataclass(frozen=True)
class Capabilities:
    """The kinds of fields a plan may grow (role capabilities, limits)."""

    tags: frozenset[str] = frozenset()
    limits: dict[str, int] = field(default_factory=dict)
    size: tuple[int, int] = (1, 2)
    where: Path | None = None


def test_plan_file_encodes_sets_maps_and_paths() -> None:
    value = Capabilities(frozenset({"b", "a"}), {"tokens": 5}, (3, 4), Path("/x"))
    assert _decode(Capabilities, json.loads(json.dumps(_encode(value)))) == value
    with pytest.raises(ValueError):
        _decode(Literal["sim"], "claude")


def test_plan_file_changes_name_agents_added_removed_and_changed(repo: Path) -> None:
    old = load_plan(str(write_layout(repo, layout_data(polecats=2))), repo)
    edited = layout_data(polecats=3, polecat={"runtime": "command", "command": ["sleep", "9"]})
    edited["merge"] = {"batch_size": 2}
    new = load_plan(str(write_layout(repo, edited)), repo)
    changes = plan_changes(old, new)
    assert "+polecat-3" in changes
    assert "~polecat-1 (runtime sim -> command)" in changes
    assert "~merge" in changes and "~windows" not in changes
    assert "~mayor" not in " ".join(changes)
    assert plan_changes(new, new) == []
    assert plan_changes(new, old)[0] == "-polecat-3"


def test_plan_file_missing_makes_a_respawn_fail_loudly(repo: Path) -> None:
    instance = SwarmInstance(repo, repo / ".swarm", "s", "sock", "x", repo / "swarm.yaml")
    with pytest.raises(SwarmError, match=r"no plan yet \(run `swarm up`\)"):
        launch_args(instance, "polecat-1")
    write_plan(load_plan(str(write_layout(repo, layout_data())), repo))
    with pytest.raises(SwarmError, match="polecat-9: not in the swarm's plan"):
        launch_args(instance, "polecat-9")
    assert "--" in launch_args(instance, "polecat-1")


@pytest.mark.slow
def test_plan_file_survives_an_edited_layout_until_the_next_up(
    repo: Path, tmux_socket: str
) -> None:
    layout = write_layout(repo, layout_data(polecats=2))
    result = bring_up(str(layout), repo)
    instance, state = result.instance, result.instance.state_dir
    tmux = Tmux(tmux_socket)
    store = Store.open(instance.db_path)

    def panes() -> dict[str, Any]:
        return {p.agent: p for p in tmux.list_panes(instance.session) if p.agent}

    def ready(name: str) -> bool:
        return store.get_agent(name).state == "idle"

    try:
        wait("polecats idle", lambda: ready("polecat-1") and ready("polecat-2"))
        wait("a controller", lambda: pid_of(state, "controller"))
        wait("a witness", lambda: pid_of(state, "witness"))

        # The layout now says: three polecats, running another command.
        edited = layout_data(
            polecats=3,
            polecat={"runtime": "command", "command": ["sh", "-c", f"echo {MARK}; exec sleep 600"]},
        )
        write_layout(repo, edited)

        # The controller, with its pane's restart loop: the witness respawns the pane.
        controller = pid_of(state, "controller")
        assert controller is not None
        loop = panes()["controller"].pid
        assert loop is not None
        os.kill(loop, signal.SIGKILL)
        os.kill(controller, signal.SIGKILL)
        wait("a new controller", lambda: pid_of(state, "controller") not in (None, controller))

        # The witness: the controller respawns it.
        witness = pid_of(state, "witness")
        assert witness is not None
        os.kill(witness, signal.SIGKILL)
        wait("a new witness", lambda: pid_of(state, "witness") not in (None, witness))

        # A polecat's process dies: the witness restarts it in its pane.
        first = panes()["polecat-1"].pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        wait("polecat-1 restarted", lambda: panes()["polecat-1"].pid not in (None, first))
        wait("polecat-1 idle again", lambda: ready("polecat-1"))
        # A polecat's pane is closed: the witness rebuilds what is missing, from the plan.
        tmux.run(("kill-pane", "-t", panes()["polecat-2"].pane_id))
        wait("polecat-2 rebuilt", lambda: "polecat-2" in panes() and ready("polecat-2"))

        # Every process came back as built: sim polecats, two of them, nothing edited.
        live = panes()
        assert "polecat-3" not in live
        assert {a.name for a in store.list_agents(role="polecat")} == {"polecat-1", "polecat-2"}
        for name in ("polecat-1", "polecat-2"):
            pid = live[name].pid
            assert pid is not None
            assert "agent sim" in cmdline(pid), cmdline(pid)
            assert store.get_agent(name).runtime == "sim"
        for name in ("controller", "witness"):
            pid = pid_of(state, name)
            assert pid is not None and f"swarm {name}" in cmdline(pid)
        screens = tmux.run(("capture-pane", "-p", "-t", live["polecat-1"].pane_id))
        assert MARK not in screens

        # The next `swarm up` builds the edited layout and says what changed.
        said: list[str] = []
        again = bring_up(str(layout), repo, on_progress=said.append)
        assert "+polecat-3" in again.changes
        assert "~polecat-1 (runtime sim -> command)" in again.changes
        line = next(s for s in said if s.startswith("plan changed: "))
        assert "+polecat-3" in line and "~polecat-2 (runtime sim -> command)" in line
        assert read_plan(state).agent("polecat-3") is not None
    finally:
        store.close()


def test_plan_file_is_what_doctor_checks_once_the_swarm_was_built(repo: Path) -> None:
    from swarm.doctor import layout_needs

    layout = write_layout(repo, layout_data(polecats=2))
    write_plan(load_plan(str(layout), repo))
    layout.write_text("roles: {polecat: {count: many}}\n")  # broken since `up`: not read
    _, check = layout_needs(None, repo)
    assert check is not None and check.ok and "(4 agents)" in check.detail  # mayor, 2, witness
    _, explicit = layout_needs(str(layout), repo)  # --layout: that file, as it is now
    assert explicit is not None and not explicit.ok
    path = paths.plan_path(paths.state_dir(repo))
    path.write_text(json.dumps({"format": FORMAT + 1}))
    _, newer = layout_needs(None, repo)
    assert newer is not None and not newer.ok and "newer than this swarm reads" in newer.detail


def test_plan_file_written_by_a_new_up_reaches_a_running_witness(repo: Path) -> None:
    from swarm.witness.loop import Witness, WitnessConfig

    layout = write_layout(repo, layout_data(polecats=1))
    plan = load_plan(str(layout), repo)
    write_plan(plan)
    instance = SwarmInstance(repo, plan.state_dir, plan.session, "swt-none", "x", layout)
    with Store.open(instance.db_path) as store:
        store.upsert_agent("polecat-1", "polecat", "sim")
        witness = Witness(instance, store, log=lambda _m: None, config=WitnessConfig(control=False))
        try:
            agent = store.get_agent("polecat-1")
            assert witness.policy(agent).health.startup_grace == 5
            faster = layout_data(polecats=1, polecat={"health": {"startup_grace": 1}})
            write_plan(load_plan(str(write_layout(repo, faster)), repo))
            stamp = paths.plan_path(plan.state_dir)
            os.utime(stamp, ns=(time.time_ns(), time.time_ns() + 1_000_000))  # a later mtime
            witness._follow_plan()
            assert witness.policy(agent).health.startup_grace == 1
        finally:
            witness.close()
