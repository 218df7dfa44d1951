"""One agent, one pane: builds take turns under one lock, agents are registered before their
panes start, a second pane for an agent is removed, and every lost pane is rebuilt."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from swarm.errors import TmuxError
from swarm.heal import build_lock, reconcile
from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store
from swarm.tmux.builder import extra_panes
from swarm.tmux.client import Tmux

SLEEP = {"runtime": "command", "command": ["sleep", "600"]}


def write_layout(tmp: Path, data: dict[str, Any]) -> Path:
    path = tmp / "heal.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    return path


def trivial_layout(tmp: Path, polecat: dict[str, Any] | None = None) -> Path:
    """Agents that do nothing; no witness or controller would act on their own: the tests
    call the healer themselves."""
    return write_layout(
        tmp,
        {
            "runtime": "sim",
            "sidebar": {"enabled": False},
            "roles": {
                "mayor": {"count": 0},
                "polecat": {"count": 2, **(polecat or SLEEP)},
                "witness": {"count": 0},
                "refinery": {"count": 0},
            },
            "windows": [{"name": "polecats", "layout": "tiled", "panes": ["polecat"]}],
        },
    )


def panes_of(tmux: Tmux, session: str, agent: str) -> list[str]:
    return [p.pane_id for p in tmux.list_panes(session) if p.agent == agent]


def add_second_pane(tmux: Tmux, session: str, agent: str) -> str:
    """What a racing builder used to leave behind: another pane tagged as `agent`."""
    first = panes_of(tmux, session, agent)[0]
    out = tmux.run(("split-window", "-d", "-P", "-F", "#{pane_id}", "-t", first, "sleep", "600"))
    pane_id = out.strip()
    tmux.run(("set-option", "-p", "-t", pane_id, "@swarm_agent", agent))
    return pane_id


def wait_for(what: str, check: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def test_extra_panes_keeps_the_stored_pane_else_the_oldest() -> None:
    panes = [("polecat-1", "%3"), ("polecat-1", "%12"), ("polecat-2", "%4"), ("", "%9")]
    assert extra_panes(panes) == [("polecat-1", "%12")]
    assert extra_panes(panes, {"polecat-1": "%12"}) == [("polecat-1", "%3")]
    assert extra_panes(panes, {"polecat-1": "%77"}) == [("polecat-1", "%12")]
    assert extra_panes([("a", "%1"), ("b", "%2")]) == []


def test_the_build_lock_is_taken_by_one_and_a_healer_skips(tmp_path: Path) -> None:
    with build_lock(tmp_path, wait=True) as first:
        assert first
        with build_lock(tmp_path, wait=False) as second:
            assert not second
    with build_lock(tmp_path, wait=False) as again:
        assert again


def test_a_healer_waits_for_a_running_build_and_never_builds_twice(
    repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    result = bring_up(str(trivial_layout(tmp_path)), repo)
    tmux, session = Tmux(tmux_socket), result.plan.session
    tmux.run(("kill-pane", "-t", panes_of(tmux, session, "polecat-2")[0]))
    with Store.open(result.instance.db_path) as store:
        with build_lock(result.instance.state_dir, wait=True):  # `swarm up` is building
            assert reconcile(result.instance, tmux, store, "test", who="witness") is None
            assert panes_of(tmux, session, "polecat-2") == []
        report = reconcile(result.instance, tmux, store, "polecat-2 gone", who="witness")
        assert report is not None and report.created == ["polecat-2"]
        # someone else rebuilt it first: a second healer finds nothing to do
        assert reconcile(result.instance, tmux, store, "polecat-2 gone", who="controller") is None
        assert [e.kind for e in store.events(agent=None) if e.kind.endswith(".reconcile")] == [
            "witness.reconcile"
        ]
    assert len(panes_of(tmux, session, "polecat-2")) == 1


def test_a_healer_rebuilds_only_what_up_built(repo: Path, tmux_socket: str, tmp_path: Path) -> None:
    """`up` with an override of the layout's count: the healer must not add polecat-2."""
    layout = str(trivial_layout(tmp_path))  # 2 polecats in the file
    result = bring_up(layout, repo, overrides={"roles": {"polecat": {"count": 1}}})
    tmux, session = Tmux(tmux_socket), result.plan.session
    with Store.open(result.instance.db_path) as store:
        assert reconcile(result.instance, tmux, store, "test", who="controller") is None
        tmux.run(("kill-pane", "-t", panes_of(tmux, session, "polecat-1")[0]))
        report = reconcile(result.instance, tmux, store, "polecat-1 gone", who="witness")
        assert report is not None and report.created == ["polecat-1"]
        assert [a.name for a in store.list_agents(role="polecat")] == ["polecat-1"]
    assert panes_of(tmux, session, "polecat-2") == []


def test_up_removes_a_second_pane_of_an_agent_with_an_event(
    repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    layout = str(trivial_layout(tmp_path))
    result = bring_up(layout, repo)
    tmux, session = Tmux(tmux_socket), result.plan.session
    original = panes_of(tmux, session, "polecat-1")
    extra = add_second_pane(tmux, session, "polecat-1")
    again = bring_up(layout, repo)
    assert again.report.duplicates == [f"polecat-1 {extra}"]
    assert panes_of(tmux, session, "polecat-1") == original
    with Store.open(result.instance.db_path) as store:
        assert any(e.kind == "swarm.duplicate" for e in store.events(agent="polecat-1"))


def test_agents_are_registered_before_their_runtimes_report(
    repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    """A runtime whose first act is its SessionStart report: no witness runs, so only the
    report itself can make the agent idle, and it must find the agent registered."""
    report_at_once = {
        "runtime": "command",
        "command": [
            "/bin/sh",
            "-c",
            f"{sys.executable} -m swarm report SessionStart </dev/null; exec sleep 600",
        ],
    }
    result = bring_up(str(trivial_layout(tmp_path, report_at_once)), repo)
    with Store.open(result.instance.db_path) as store:
        wait_for(
            "both polecats idle through their own report",
            lambda: all(a.state == "idle" for a in store.list_agents(role="polecat")),
            timeout=20,
        )
        assert all(a.pane for a in store.list_agents(role="polecat"))


# -- every pane heals, on a live swarm -------------------------------------------------------

HEAL_WITHIN = 10.0


def live_layout(tmp: Path) -> Path:
    return write_layout(
        tmp,
        {
            "runtime": "sim",
            "roles": {
                "mayor": {"count": 0},
                "polecat": {"count": 2, "health": {"startup_grace": 3}},
                "witness": {"count": 1},
                "refinery": {"count": 1},
            },
            "windows": [
                {"name": "control", "layout": "tiled", "panes": ["witness", "refinery"]},
                {"name": "polecats", "layout": "tiled", "panes": ["polecat"]},
            ],
        },
    )


def live_pane(tmux: Tmux, session: str, agent: str) -> str | None:
    alive = [p.pane_id for p in tmux.list_panes(session) if p.agent == agent and not p.dead]
    return alive[0] if len(alive) == 1 else None


@pytest.mark.slow
def test_every_pane_heals_without_swarm_up(repo: Path, tmux_socket: str, tmp_path: Path) -> None:
    result: UpResult = bring_up(str(live_layout(tmp_path)), repo)
    tmux, session = Tmux(tmux_socket), result.plan.session
    with Store.open(result.instance.db_path) as store:
        wait_for(
            "polecats idle",
            lambda: all(a.state == "idle" for a in store.list_agents(role="polecat")),
            timeout=40,
        )
        every = ("controller", "witness", "refinery", "sidebar", "polecat-1")
        wait_for("every pane up", lambda: all(live_pane(tmux, session, n) for n in every), 20)
        for name in every:
            # what remains must be settled first: each kill is healed by a survivor
            wait_for(
                "the others alive", lambda: all(live_pane(tmux, session, n) for n in every), 20
            )
            old = live_pane(tmux, session, name)
            assert old is not None
            tmux.run(("kill-pane", "-t", old))
            killed = time.monotonic()

            def rebuilt(name: str = name, old: str = old) -> bool:
                return live_pane(tmux, session, name) not in (None, old)

            wait_for(f"{name} rebuilt", rebuilt, HEAL_WITHIN)
            print(f"{name}: back after {time.monotonic() - killed:.1f}s")
        wait_for(
            "polecat-1 idle again",
            lambda: store.get_agent("polecat-1").state == "idle",
            timeout=30,
        )
        # and a second pane for an agent, however it came, is removed with an event
        extra = add_second_pane(tmux, session, "polecat-2")
        wait_for(
            "the second pane removed",
            lambda: extra not in panes_of(tmux, session, "polecat-2"),
            HEAL_WITHIN,
        )
        assert len(panes_of(tmux, session, "polecat-2")) == 1
        assert any(e.kind == "swarm.duplicate" for e in store.events(agent="polecat-2"))
        task = subprocess.run(
            [sys.executable, "-m", "swarm", "task", "add", "After the healing"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        wait_for("the task done", lambda: store.get_task(task).status in ("done", "merged"), 60)


MAX_POLECATS = 100  # the schema's maximum for a role's count (swarm.config.roles)


@pytest.mark.slow
def test_one_pane_per_agent_at_the_maximum_layout(
    repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    """100 sim polecats, mayor, witness, refinery, sidebar and controller: once `up` returns,
    every second for 60 s, each of them has exactly one pane (the witness and controller
    run all along and must never build a pane `up` is building)."""
    path = write_layout(
        tmp_path,
        {
            "runtime": "sim",
            "polecats_per_window": 10,
            "roles": {
                "mayor": {"count": 1},
                "polecat": {"count": MAX_POLECATS},
                "witness": {"count": 1},
                "refinery": {"count": 1},
            },
        },
    )
    result = bring_up(str(path), repo)
    tmux, session = Tmux(tmux_socket), result.plan.session
    wanted = [p.name for p in result.plan.pane_specs()]
    assert len(wanted) == MAX_POLECATS + 5
    for second in range(60):
        counts: dict[str, int] = {}
        for pane in tmux.list_panes(session):
            counts[pane.agent] = counts.get(pane.agent, 0) + 1
        wrong = {name: counts.get(name, 0) for name in wanted if counts.get(name, 0) != 1}
        assert not wrong, f"after {second}s, agents without exactly one pane: {wrong}"
        time.sleep(1.0)
    with Store.open(result.instance.db_path) as store:
        assert not [e.message for e in store.events(limit=None) if e.kind == "swarm.duplicate"]
        assert len(store.list_agents(role="polecat")) == MAX_POLECATS


class FlakyListing(Tmux):
    """`list-panes` fails once after `fail_after` good answers (tmux answers [] on any
    error): what a healer sees when tmux is busy."""

    def __init__(self, socket: str, fail_after: int) -> None:
        super().__init__(socket)
        self.left = fail_after

    def list_panes(self, session: str) -> list[Any]:
        self.left -= 1
        return [] if self.left == -1 else super().list_panes(session)


def test_a_healer_that_misreads_the_panes_never_ends_the_swarm(
    repo: Path, tmux_socket: str, tmp_path: Path
) -> None:
    """A failed list-panes looked like a session to build from nothing; its build failed
    (the session exists) and the cleanup of a half-built server killed the running swarm."""
    result = bring_up(str(trivial_layout(tmp_path)), repo)
    tmux, session = Tmux(tmux_socket), result.plan.session
    tmux.run(("kill-pane", "-t", panes_of(tmux, session, "polecat-1")[0]))
    with Store.open(result.instance.db_path) as store, pytest.raises(TmuxError):
        reconcile(result.instance, FlakyListing(tmux_socket, 1), store, "gone", who="witness")
    assert tmux.server_running()
    assert len(panes_of(tmux, session, "polecat-2")) == 1
