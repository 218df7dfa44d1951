"""`swarm up` on real tmux (a private socket per test): build, re-run, repair, resize, down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import libtmux
import psutil
import pytest

from swarm.config import load_plan
from swarm.instance import SwarmInstance
from swarm.lifecycle import UpResult, bring_down, bring_up
from swarm.store import Store
from swarm.tmux.client import Tmux

# Agents run a trivial command here: these tests are about the tmux structure.
TRIVIAL: dict[str, Any] = {
    "runtime": "command",
    "roles": {
        "mayor": {"command": ["sleep", "3600"]},
        "polecat": {"command": ["sleep", "3600"]},
    },
}


def overrides(**roles: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {"runtime": "command", "roles": {}}
    for name, spec in {**TRIVIAL["roles"], **roles}.items():
        merged["roles"][name] = {"command": ["sleep", "3600"], **spec}
    return merged


def agent_panes(socket: str, session: str) -> dict[str, libtmux.Pane]:
    """Read back with libtmux: an independent view of what tmux really holds."""
    server = libtmux.Server(socket_name=socket)
    found = {}
    for pane in live_session(server, session).panes:
        name = pane.cmd("show-options", "-pqv", "@swarm_agent").stdout
        if name:
            found[name[0]] = pane
    return found


def live_session(server: libtmux.Server, name: str) -> libtmux.Session:
    session = server.sessions.get(session_name=name)
    assert session is not None, f"no session {name}"
    return session


def number(value: str | None) -> int:
    """A pane's number as libtmux reads it (optional there: tmux reports it for every pane)."""
    assert value is not None
    return int(value)


def pane_id(pane: libtmux.Pane) -> str:
    assert pane.pane_id is not None
    return pane.pane_id


def up(layout: str, repo: Path, extra: dict[str, Any] | None = None) -> UpResult:
    return bring_up(layout, repo, overrides=extra if extra is not None else TRIVIAL)


@pytest.mark.parametrize("layout", ["solo", "team", "factory", "demo"])
def test_each_bundled_layout_builds(layout: str, repo: Path, tmux_socket: str) -> None:
    result = up(layout, repo, None if layout == "demo" else TRIVIAL)
    plan = result.plan
    panes = agent_panes(tmux_socket, plan.session)
    expected = {p.name for p in plan.pane_specs()}
    assert set(panes) == expected
    server = libtmux.Server(socket_name=tmux_socket)
    windows = [w.window_name for w in live_session(server, plan.session).windows]
    assert windows == [w.name for w in plan.windows]
    # every agent is recorded with its pane address
    with Store.open(result.instance.db_path) as store:
        recorded = {a.name: a.pane for a in store.list_agents()}
    assert recorded == {a.name: panes[a.name].pane_id for a in plan.agents}


def test_factory_fits_33_agents_and_sidebar(repo: Path, tmux_socket: str) -> None:
    result = up("factory", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    assert len([n for n in panes if n not in ("sidebar", "controller")]) == 33
    assert "sidebar" in panes
    # no pane was squeezed to nothing: tmux applied our layouts
    for pane in panes.values():
        assert number(pane.pane_width) >= 10 and number(pane.pane_height) >= 3


def test_sidebar_has_its_width_and_side(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    sidebar = panes["sidebar"]
    assert number(sidebar.pane_width) == result.plan.windows[0].sidebar_width
    assert number(sidebar.pane_left) == 0
    assert number(sidebar.pane_height) >= number(panes["mayor"].pane_height)


def _agent(pane: psutil.Process) -> psutil.Process | None:
    """The pane's `sleep`: its own process, or the one its sandbox runs."""
    try:
        found = [pane, *pane.children(recursive=True)] if pane.name() == "bwrap" else [pane]
        return next((p for p in found if p.name() == "sleep"), None)
    except psutil.Error:
        return None


def agent_process(
    panes: dict[str, libtmux.Pane], name: str
) -> tuple[psutil.Process, psutil.Process]:
    """The agent's pane process and, once it runs, the agent's own: the pane first makes
    its worktree, then becomes the agent (under bwrap where polecats run confined:
    swarm/sandbox.py)."""
    pane = psutil.Process(number(panes[name].pane_pid))
    deadline = time.monotonic() + 15
    while (proc := _agent(pane)) is None:
        assert time.monotonic() < deadline, f"{name} still {pane.name()}"
        time.sleep(0.05)
    return pane, proc


def test_agent_environment_and_start_directory(repo: Path, tmux_socket: str) -> None:
    result = up("solo", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    pane, proc = agent_process(panes, "polecat-1")
    assert pane.name() in ("sleep", "bwrap")
    env = proc.environ()
    assert env["SWARM_AGENT"] == "polecat-1"
    assert env["SWARM_ROLE"] == "polecat"
    assert Path(env["SWARM_HOME"]) == repo / ".swarm"
    assert Path(proc.cwd()) == repo / ".swarm" / "worktrees" / "polecat-1"
    assert proc.name() == "sleep"  # the agent command is the pane's command: no shell between
    assert proc == pane or pane.name() == "bwrap"
    # the border shows agent and role
    fmt = panes["mayor"].cmd("show-options", "-gwv", "pane-border-format").stdout[0]
    assert "@swarm_agent" in fmt and "@swarm_role" in fmt


def _nice_of_session(proc: psutil.Process) -> int | None:
    """The nice value of the process's session group, where the kernel has them."""
    try:
        text = Path(f"/proc/{proc.pid}/autogroup").read_text()
    except OSError:
        return None
    return int(text.split("nice")[-1])


def test_polecats_run_below_the_swarm_and_the_mayor(repo: Path, tmux_socket: str) -> None:
    """A hundred busy polecats must not starve the controller or the person's mayor: the
    bundled polecat role runs at nice 19, its pane's session group too (autogroup)."""
    result = up("solo", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    found = {name: agent_process(panes, name)[1] for name in ("polecat-1", "mayor")}
    assert found["polecat-1"].nice() == 19
    assert found["mayor"].nice() == 0
    groups = {name: _nice_of_session(proc) for name, proc in found.items()}
    if groups["polecat-1"] is not None:
        assert groups == {"polecat-1": 19, "mayor": 0}
    controller = psutil.Process(number(panes["controller"].pane_pid))
    assert controller.nice() == 0


def test_a_layout_can_keep_polecats_at_the_swarm_s_priority(repo: Path, tmux_socket: str) -> None:
    result = up("solo", repo, overrides(polecat={"nice": 0}))
    _pane, proc = agent_process(agent_panes(tmux_socket, result.plan.session), "polecat-1")
    assert proc.nice() == 0


def test_up_twice_duplicates_nothing(repo: Path, tmux_socket: str) -> None:
    first = up("team", repo)
    before = {n: p.pane_id for n, p in agent_panes(tmux_socket, first.plan.session).items()}
    second = up("team", repo)
    after = {n: p.pane_id for n, p in agent_panes(tmux_socket, second.plan.session).items()}
    assert before == after
    assert second.report.created == [] and second.report.removed == []
    assert len(Tmux(tmux_socket).list_panes(first.plan.session)) == len(before)


def test_killed_pane_is_recreated_in_place(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    tmux = Tmux(tmux_socket)
    panes = agent_panes(tmux_socket, result.plan.session)
    tmux.run(("kill-pane", "-t", pane_id(panes["polecat-2"])))
    again = up("team", repo)
    assert again.report.created == ["polecat-2"]
    live = tmux.list_panes(result.plan.session)
    window = [
        p.agent for p in sorted(live, key=lambda p: p.pane_index) if p.swarm_window == "polecats"
    ]
    assert window == ["polecat-1", "polecat-2", "polecat-3", "polecat-4"]


def test_first_pane_of_window_recreated_before_the_others(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    tmux = Tmux(tmux_socket)
    panes = agent_panes(tmux_socket, result.plan.session)
    tmux.run(
        ("kill-pane", "-t", pane_id(panes["sidebar"])), ("kill-pane", "-t", pane_id(panes["mayor"]))
    )
    up("team", repo)
    live = sorted(tmux.list_panes(result.plan.session), key=lambda p: p.pane_index)
    control = [p.agent for p in live if p.swarm_window == "control"]
    assert control == ["sidebar", "mayor", "witness", "refinery"]
    sidebar = next(p for p in live if p.agent == "sidebar")
    assert sidebar.width == result.plan.windows[0].sidebar_width


def test_dead_pane_is_respawned_with_the_same_id(repo: Path, tmux_socket: str) -> None:
    result = up("solo", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    pane_id = panes["polecat-1"].pane_id
    os.kill(number(panes["polecat-1"].pane_pid), signal.SIGKILL)
    tmux = Tmux(tmux_socket)
    deadline = time.monotonic() + 5
    while not next(p for p in tmux.list_panes(result.plan.session) if p.agent == "polecat-1").dead:
        assert time.monotonic() < deadline, "pane never showed as dead (remain-on-exit)"
        time.sleep(0.05)
    again = up("solo", repo)
    assert "polecat-1" in again.report.respawned
    pane = next(p for p in tmux.list_panes(result.plan.session) if p.agent == "polecat-1")
    assert pane.pane_id == pane_id and not pane.dead


def test_changed_count_adds_and_removes_polecats(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    more = up("team", repo, overrides(polecat={"count": 12}))
    assert sorted(more.report.created) == sorted(f"polecat-{n}" for n in range(5, 13))
    panes = agent_panes(tmux_socket, result.plan.session)
    assert {n for n in panes if n.startswith("polecat-")} == {f"polecat-{n}" for n in range(1, 13)}
    fewer = up("team", repo, overrides(polecat={"count": 2}))
    assert sorted(fewer.report.removed) == sorted(f"polecat-{n}" for n in range(3, 13))
    panes = agent_panes(tmux_socket, result.plan.session)
    assert {n for n in panes if n.startswith("polecat-")} == {"polecat-1", "polecat-2"}
    with Store.open(result.instance.db_path) as store:
        assert {a.name for a in store.list_agents(role="polecat")} == {"polecat-1", "polecat-2"}


def test_down_stops_everything_and_keeps_state(repo: Path, tmux_socket: str) -> None:
    result = up("solo", repo)
    with Store.open(result.instance.db_path) as store:
        task = store.add_task("keep me")
    assert bring_down(result.instance)
    assert not Tmux(tmux_socket).server_running()
    with Store.open(result.instance.db_path) as store:
        assert store.get_task(task.id).title == "keep me"
        assert {a.state for a in store.list_agents()} == {"stopped"}
    # and up brings the same swarm back
    again = up("solo", repo)
    assert again.report.session_created
    assert SwarmInstance.load(repo / ".swarm").session == result.plan.session


def test_key_bindings_live_in_the_swarm_table(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    tmux = Tmux(tmux_socket)
    table = tmux.run(("list-keys", "-T", "swarm"))
    panes = agent_panes(tmux_socket, result.plan.session)
    assert f'select-pane -t "{panes["mayor"].pane_id}"' in table
    assert "resize-pane -Z" in table
    assert "focus next" in table and "focus previous" in table
    prefix = tmux.run(("list-keys", "-T", "prefix", result.plan.key_prefix))
    assert "switch-client -T swarm" in prefix


def test_focus_next_and_previous_polecat(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    panes = agent_panes(tmux_socket, result.plan.session)
    env = {**os.environ, "SWARM_TMUX_SOCKET": tmux_socket}

    def focus(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "swarm", "focus", *args], cwd=repo, check=True, env=env
        )

    def active() -> str:
        out = Tmux(tmux_socket).run(
            ("display-message", "-p", "-t", f"={result.plan.session}:", "#{@swarm_agent}")
        )
        return out.strip()

    focus("polecat-4")
    assert active() == "polecat-4"
    focus("next", "--from", pane_id(panes["polecat-4"]))
    assert active() == "polecat-1"  # wraps around
    focus("previous", "--from", pane_id(panes["polecat-1"]))
    assert active() == "polecat-4"
    focus("mayor")
    assert active() == "mayor"


def test_bad_layout_leaves_no_session(repo: Path, tmux_socket: str) -> None:
    bad = repo / "bad.yaml"
    bad.write_text("roles:\n  polecat: {count: 101}\n")
    env = {**os.environ, "SWARM_TMUX_SOCKET": tmux_socket}
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", "up", str(bad), "--detach"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml:2:" in lines[0] and "count" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not Tmux(tmux_socket).server_running()
    assert not (repo / ".swarm" / "swarm.json").exists()


def test_up_outside_a_repository_is_one_line(tmp_path: Path, tmux_socket: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "swarm", "up", "solo", "--detach"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "not a git repository" in proc.stderr


def test_status_json_lists_every_agent(repo: Path, tmux_socket: str) -> None:
    import json

    result = up("solo", repo)
    env = {**os.environ, "SWARM_TMUX_SOCKET": tmux_socket}
    out = subprocess.run(
        [sys.executable, "-m", "swarm", "status", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {a.name for a in result.plan.agents}
    for row in rows:
        assert {"name", "role", "state", "pane", "pid"} <= set(row)
        assert row["pane"].startswith("%") and row["pid"] > 0


def test_plan_and_build_agree_on_order(repo: Path) -> None:
    plan = load_plan("factory", repo, overrides=TRIVIAL)
    names = [p.name for w in plan.windows for p in w.panes]
    assert names[0] == "sidebar" and names[-1] == "controller"
    assert names.count("polecat-30") == 1


def test_sidebar_keeps_its_width_when_the_window_resizes(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    tmux = Tmux(tmux_socket)
    width = result.plan.windows[0].sidebar_width
    tmux.run(("resize-window", "-t", f"={result.plan.session}:control", "-x", "150", "-y", "40"))
    deadline = time.monotonic() + 5
    while True:
        bar = next(p for p in tmux.list_panes(result.plan.session) if p.agent == "sidebar")
        if bar.width == width and bar.window_width == 150:
            break
        assert time.monotonic() < deadline, f"sidebar is {bar.width} wide"
        time.sleep(0.05)


def test_no_agent_identity_in_the_session_environment(repo: Path, tmux_socket: str) -> None:
    result = up("team", repo)
    env = Tmux(tmux_socket).run(("show-environment", "-t", f"={result.plan.session}"))
    assert "SWARM_AGENT" not in env and "SWARM_ROLE" not in env
    assert "SWARM_HOME=" in env  # what every pane shares lives there once
