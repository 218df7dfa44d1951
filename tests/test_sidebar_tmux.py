"""The sidebar against a real swarm: real tmux server, sim agents, controller and store.

Two ways in: the app driven by Textual's Pilot in this process with the real `SwarmControls`
(focus, nudge, approve and restart really happen in tmux), and the sidebar that `swarm up`
started in its own pane, driven with `tmux send-keys` like a person at the keyboard.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from swarm.lifecycle import UpResult, bring_up
from swarm.store import Store
from swarm.tmux.client import PaneInfo, Tmux
from swarm.ui.app import SidebarApp
from swarm.ui.controls import SwarmControls
from swarm.ui.data import StoreSource
from swarm.ui.widgets.agents import AgentsTable

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

NO_REFINERY = {"roles": {"polecat": {"count": 3}, "refinery": {"count": 0}}}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def panes(result: UpResult) -> dict[str, PaneInfo]:
    return {p.agent: p for p in Tmux(result.instance.socket).list_panes(result.instance.session)}


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def agent_state(result: UpResult, name: str) -> str:
    with Store.open(result.instance.db_path) as store:
        return store.get_agent(name).state


def all_idle(result: UpResult, names: tuple[str, ...]) -> bool:
    with Store.open(result.instance.db_path) as store:
        return all(store.get_agent(n).state == "idle" for n in names)


def capture(result: UpResult, pane_id: str) -> str:
    return Tmux(result.instance.socket).run(("capture-pane", "-p", "-t", pane_id))


async def test_keys_act_on_the_real_swarm(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    instance = result.instance
    polecats = ("polecat-1", "polecat-2", "polecat-3")
    wait(lambda: all_idle(result, polecats), 30, "the sim polecats to report in")
    app = SidebarApp(StoreSource.for_instance(instance), SwarmControls(instance))
    async with app.run_test(size=(40, 50)) as pilot:
        await until(pilot, lambda: app.snapshot is not None, 10, "the first snapshot")
        table = app.query_one(AgentsTable)

        # Enter: the chosen agent's pane becomes the active one.
        assert table.select_key("polecat-2")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 1, 10, "focus")
        assert app.results[-1] == ("focus: polecat-2", True)
        assert panes(result)["polecat-2"].active

        # n: the message arrives verbatim in the sim's inbox.
        text = "status? $(not run); #{not a format}"
        assert table.select_key("polecat-3")
        await pilot.press("n")
        await pilot.press(*text, "enter")
        await until(pilot, lambda: len(app.results) == 2, 20, "nudge")
        assert app.results[-1][1], app.results[-1]
        inbox = instance.state_dir / "sim" / "polecat-3" / "inbox"
        wait(lambda: any(p.read_text() == text for p in inbox.glob("*.txt")), 10, "the inbox")

        # a: an agent waiting at a permission prompt is approved and goes on working.
        with Store.open(instance.db_path) as store:
            store.add_task("Needs a push", body="Push it.\n\nsim: ask-permission git push\n")
        await until(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.agents[0].state == "waiting",
            30,
            "an agent waiting for permission",
        )
        await pilot.pause(0.3)  # the table has moved the waiting agent to the top
        assert app.snapshot is not None
        waiting = app.snapshot.agents[0].name
        assert table.select_key(waiting)
        await pilot.press("a")
        await until(pilot, lambda: len(app.results) == 3, 10, "approve")
        assert app.results[-1] == (f"{waiting}: prompt approved", True)
        wait(lambda: "⏺ approved" in capture(result, panes(result)[waiting].pane_id), 10, "the sim")
        wait(lambda: agent_state(result, waiting) != "waiting", 10, "the state to move on")

        # a on an agent that is not waiting: one line, no crash.
        assert table.select_key("mayor")
        await pilot.press("a")
        await until(pilot, lambda: len(app.results) == 4, 10, "refused approve")
        assert app.results[-1] == (
            "mayor shows no prompt to answer (state idle: session startup)",
            False,
        )

        # r, y: the pane is respawned and the restart recorded.
        assert table.select_key("polecat-1")
        await pilot.press("r", "y")
        await until(pilot, lambda: len(app.results) == 5, 10, "restart")
        assert app.results[-1][0].startswith("polecat-1: restarted") and app.results[-1][1]
        with Store.open(instance.db_path) as store:
            assert store.get_agent("polecat-1").restarts == 1
        await until(
            pilot,
            lambda: (
                app.snapshot is not None
                and any(a.name == "polecat-1" and a.restarts == 1 for a in app.snapshot.agents)
            ),
            5,
            "the restart on screen",
        )


def test_send_keys_into_the_sidebar_pane_moves_the_focus(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    tmux = Tmux(result.instance.socket)
    sidebar = panes(result)["sidebar"].pane_id
    wait(lambda: "polecat-3" in capture(result, sidebar), 30, "the sidebar to show the agents")
    target = panes(result)["polecat-2"]
    assert not target.active
    # Filter down to polecat-2, then Enter on it, as a person would type it.
    tmux.run(("send-keys", "-t", sidebar, "/"))
    wait(lambda: "filter agents" in capture(result, sidebar), 10, "the filter prompt")
    tmux.run(("send-keys", "-t", sidebar, "-l", "polecat-2"), ("send-keys", "-t", sidebar, "Enter"))
    wait(lambda: "/polecat-2" in capture(result, sidebar), 10, "the filter to apply")
    tmux.run(("send-keys", "-t", sidebar, "Enter"))
    wait(lambda: panes(result)["polecat-2"].active, 10, "polecat-2's pane to become active")
    assert not panes(result)["sidebar"].active
    # z from the sidebar zooms the chosen pane.
    tmux.run(("select-pane", "-t", sidebar), ("send-keys", "-t", sidebar, "z"))
    zoomed = ("display-message", "-p", "-t", target.pane_id, "#{window_zoomed_flag}")
    wait(lambda: tmux.run(zoomed).strip() == "1", 10, "the zoom")
    tmux.run(("resize-pane", "-Z", "-t", target.pane_id), ("select-pane", "-t", sidebar))
    # Real key bytes for ? and R (shifted) reach their actions too.
    tmux.run(("send-keys", "-t", sidebar, "?"))
    wait(lambda: "swarm sidebar: keys" in capture(result, sidebar), 10, "the help screen")
    tmux.run(("send-keys", "-t", sidebar, "Escape"))
    wait(lambda: "swarm sidebar: keys" not in capture(result, sidebar), 10, "help to close")
    tmux.run(("send-keys", "-t", sidebar, "R"))
    wait(lambda: "no merge request" in capture(result, sidebar), 10, "R's one-line error")


def test_a_killed_sidebar_comes_back(repo: Path, tmux_socket: str) -> None:
    result = bring_up("demo", repo, overrides=NO_REFINERY)
    sidebar = panes(result)["sidebar"]
    wait(lambda: "polecat-3" in capture(result, sidebar.pane_id), 30, "the sidebar")
    assert sidebar.pid is not None
    subprocess.run(["kill", "-9", str(sidebar.pid)], check=True)
    wait(lambda: panes(result)["sidebar"].dead, 10, "the sidebar pane to die")
    # The swarm goes on without it: the agents are still there and working.
    assert all(not panes(result)[n].dead for n in ("mayor", "polecat-1"))
    wait(lambda: not panes(result)["sidebar"].dead, 30, "the controller to respawn it")
    wait(lambda: "polecat-3" in capture(result, sidebar.pane_id), 30, "the sidebar to redraw")
