"""Pilot tests of the sidebar: every key, the mouse, the palette, errors and live updates.

The app is given fixed snapshots and a recording `Controls`, so each test checks exactly
which action a key triggers with which arguments; `test_sidebar_tmux.py` runs the same
actions for real.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from swarm.errors import SwarmError
from swarm.store import Store
from swarm.ui import format as fmt
from swarm.ui.app import SidebarApp
from swarm.ui.data import Snapshot, StaticSource, StoreSource
from swarm.ui.sample import sample_snapshot
from swarm.ui.screens import ConfirmScreen, HelpScreen, PromptScreen
from swarm.ui.widgets.agents import AgentsTable
from swarm.ui.widgets.merges import MergesTable

SIZE = (40, 50)
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


class FakeControls:
    """Records every call; `fail` makes the next calls raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail: Exception | None = None

    def _record(self, *call: object) -> str:
        self.calls.append(call)
        if self.fail is not None:
            raise self.fail
        return f"did {call[0]}"

    def focus(self, agent: str, zoom: bool = False) -> str:
        return self._record("focus", agent, zoom)

    def nudge(self, agent: str, text: str) -> str:
        return self._record("nudge", agent, text)

    def answer(self, agent: str, approve: bool) -> str:
        return self._record("answer", agent, approve)

    def restart(self, agent: str) -> str:
        return self._record("restart", agent)

    def add_task(self, title: str, priority: int = 2) -> str:
        return self._record("add_task", title, priority)

    def retry_merge(self, mr_id: int) -> str:
        return self._record("retry_merge", mr_id)

    def reject_merge(self, mr_id: int) -> str:
        return self._record("reject_merge", mr_id)

    def diff(self, agent: str) -> str:
        return self._record("diff", agent)

    def shell(self, agent: str) -> str:
        return self._record("shell", agent)


async def until(pilot: Pilot[None], check: Callable[[], bool], timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.01)


def make_app(
    agents: int = 3, controls: FakeControls | None = None
) -> tuple[SidebarApp, FakeControls]:
    fake = controls or FakeControls()
    app = SidebarApp(StaticSource([sample_snapshot(agents)]), fake, poll_interval=0.02)
    return app, fake


async def started(pilot: Pilot[None]) -> SidebarApp:
    app = pilot.app
    assert isinstance(app, SidebarApp)
    await until(pilot, lambda: app.snapshot is not None)
    await pilot.pause()
    return app


def selected(app: SidebarApp) -> str | None:
    return app.selected_agent()


# sample_snapshot(3) orders: polecat-1 (waiting), mayor (working), witness (idle)


async def test_moving_and_enter_focuses_the_agents_pane() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        assert selected(app) == "polecat-1"
        await pilot.press("j")
        assert selected(app) == "mayor"
        await pilot.press("down")
        assert selected(app) == "witness"
        await pilot.press("k")
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 1)
        assert fake.calls == [("focus", "mayor", False)]
        await pilot.press("up", "z")
        await until(pilot, lambda: len(app.results) == 2)
        assert fake.calls[-1] == ("focus", "polecat-1", True)


async def test_nudge_types_a_message_verbatim() -> None:
    app, fake = make_app()
    text = "run $(echo hi); then #{pane_id} 'quoted'"
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, PromptScreen)
        await pilot.press(*text)
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 1)
        assert fake.calls == [("nudge", "polecat-1", text)]
        await pilot.press("n", "x", "escape")  # Escape cancels: nothing sent
        await pilot.pause(0.05)
        assert not isinstance(app.screen, PromptScreen)
        assert len(fake.calls) == 1


async def test_approve_and_refuse_answer_the_selected_agent() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("a")
        await until(pilot, lambda: len(app.results) == 1)
        await pilot.press("j", "x")
        await until(pilot, lambda: len(app.results) == 2)
        assert fake.calls == [("answer", "polecat-1", True), ("answer", "mayor", False)]


async def test_restart_asks_first() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("r")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.05)
        assert fake.calls == []
        await pilot.press("r", "y")
        await until(pilot, lambda: len(app.results) == 1)
        assert fake.calls == [("restart", "polecat-1")]


async def test_add_task_with_and_without_priority() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("t", *"P1 fix it", "enter")
        await until(pilot, lambda: len(app.results) == 1)
        await pilot.press("t")
        app.screen.query_one(Input).value = "write the docs"
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 2)
        assert fake.calls == [("add_task", "fix it", 1), ("add_task", "write the docs", 2)]
        await pilot.press("t")
        app.screen.query_one(Input).value = "P9 nope"
        await pilot.press("enter")  # refused before any call
        await until(pilot, lambda: len(app.results) == 3)
        assert app.results[-1] == ("priority P9 is out of range (P0..P4)", False)
        assert len(fake.calls) == 2


async def test_retry_and_reject_act_on_the_selected_merge_request() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        merges = app.query_one(MergesTable)
        assert [m.id for m in merges.shown][:3] == [40, 41, 42]
        await pilot.press("m")  # the merges list's cursor starts on the head of the queue
        assert isinstance(app.screen, ConfirmScreen)  # a stray `m` changes nothing unasked
        await pilot.press("y")
        await until(pilot, lambda: len(app.results) == 1)
        await pilot.press("tab")
        assert app.focused is merges
        await pilot.press("j", "R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: len(app.results) == 2)
        assert fake.calls == [("retry_merge", 40), ("reject_merge", 41)]
        await pilot.press("R", "escape")
        await pilot.pause(0.05)
        assert len(fake.calls) == 2


async def test_filter_narrows_the_agents_and_escape_clears_it() -> None:
    app, _fake = make_app(30)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.query_one(AgentsTable)
        assert len(table.shown) == 30
        await pilot.press("slash", *"polecat-2", "enter")
        await pilot.pause()
        assert {a.name for a in table.shown} == {"polecat-2"} | {f"polecat-2{n}" for n in range(8)}
        assert "/polecat-2" in str(app.query_one("#agents-title").render())
        await pilot.press("slash", *"wait", "enter")  # states match too
        await pilot.pause()
        assert table.shown and all(a.state == "waiting" for a in table.shown)
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.shown) == 30


async def test_help_lists_every_key() -> None:
    app, _fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for word in ("focus", "zoom", "nudge", "approve", "refuse", "restart", "retry", "reject"):
            assert word in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_click_selects_and_a_second_click_focuses() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.query_one(AgentsTable)
        await pilot.click(AgentsTable, offset=(4, 2))  # the third row: witness
        await pilot.pause()
        assert selected(app) == "witness"
        assert fake.calls == []
        await pilot.click(AgentsTable, offset=(4, 2))
        await until(pilot, lambda: len(app.results) == 1)
        assert fake.calls == [("focus", "witness", False)]
        assert app.focused is table


async def test_the_palette_reaches_any_agent() -> None:
    app, fake = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.1)
        await pilot.press(*"approve witness")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 1)
        assert fake.calls == [("answer", "witness", True)]
        assert selected(app) == "witness"


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (SwarmError("witness has no live pane"), "witness has no live pane"),
        (RuntimeError("boom"), "focus witness failed: RuntimeError: boom"),
    ],
)
async def test_action_errors_are_one_line_never_a_crash(error: Exception, shown: str) -> None:
    app, fake = make_app()
    fake.fail = error
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("j", "j", "enter")
        await until(pilot, lambda: len(app.results) == 1)
        assert app.results == [(shown, False)]
        assert app.is_running
        fake.fail = None
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 2)
        assert app.results[-1] == ("did focus", True)


async def test_without_controls_the_sidebar_is_read_only() -> None:
    app = SidebarApp(StaticSource([sample_snapshot(3)]), None, poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: len(app.results) == 1)
        assert "read-only" in app.results[0][0]


async def test_nothing_selected_is_said_not_crashed() -> None:
    app = SidebarApp(StaticSource([sample_snapshot(0)]), FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("a", "m")
        await until(pilot, lambda: len(app.results) == 2)
        assert app.results == [
            ("no agent selected", False),
            ("no merge request selected", False),
        ]


async def test_a_change_updates_only_the_changed_cells() -> None:
    first = sample_snapshot(30)
    source = StaticSource([first])
    app = SidebarApp(source, FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.query_one(AgentsTable)
        await pilot.press("j", "j")
        chosen = selected(app)
        rebuilds, updates, reorders = table.rebuilds, table.cell_updates, table.reorders
        # One working agent's memory changes: no reorder, one cell.
        target = next(a for a in first.agents if a.name == "polecat-2")
        assert target.state == "working"
        changed = dataclasses.replace(
            target, task="sw-zzzzz", rss_bytes=(target.rss_bytes or 0) * 2
        )
        source.push(_with_agent(first, changed))
        await until(pilot, lambda: table.cell_updates > updates)
        assert table.rebuilds == rebuilds
        assert table.cell_updates == updates + 1  # narrow: the task cell only
        # Another agent starts waiting: it moves up (one sort, no rebuild: the other rows
        # are not measured and laid out again); the cursor stays on the same agent.
        waiting = dataclasses.replace(
            next(a for a in first.agents if a.name == "mayor"), state="waiting"
        )
        moved = _with_agent(_with_agent(first, changed), waiting, reorder=True)
        source.push(moved)
        await until(pilot, lambda: table.reorders > reorders)
        assert table.rebuilds == rebuilds
        assert selected(app) == chosen
        assert names_on_screen(table)[:3] == [fmt.clip(a.name, 10) for a in moved.agents[:3]]


async def test_an_agent_that_leaves_or_comes_changes_one_row_not_the_table() -> None:
    first = sample_snapshot(30)
    source = StaticSource([first])
    app = SidebarApp(source, FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        table = app.query_one(AgentsTable)
        await pilot.press("j", "j", "j")
        chosen = selected(app)
        rebuilds = table.rebuilds
        gone = next(a for a in first.agents if a.name == "polecat-3")
        fewer = dataclasses.replace(first, agents=tuple(a for a in first.agents if a is not gone))
        source.push(fewer)
        await until(pilot, lambda: table.row_count == len(fewer.agents))
        source.push(first)  # back, in its old place
        await until(pilot, lambda: table.row_count == len(first.agents))
        await pilot.pause()
        assert table.rebuilds == rebuilds
        assert names_on_screen(table) == [fmt.clip(a.name, 10) for a in first.agents]
        assert selected(app) == chosen


async def test_a_burst_of_snapshots_is_drawn_once_with_the_newest() -> None:
    from swarm.ui.app import SnapshotReady

    first = sample_snapshot(30)
    app = SidebarApp(StaticSource([first]), FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.pause()
        drawn = len(app.apply_times)
        burst = [dataclasses.replace(first, now=first.now + n) for n in (1, 2, 3)]
        for snapshot in burst:
            app.post_message(SnapshotReady(snapshot))
        await until(pilot, lambda: app.snapshot is burst[-1])
        await pilot.pause()
        assert len(app.apply_times) == drawn + 1


async def test_a_request_that_bounces_moves_down_as_a_taller_row_without_a_rebuild() -> None:
    first = sample_snapshot(30)
    source = StaticSource([first])
    app = SidebarApp(source, FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        merges = app.query_one(MergesTable)
        await until(pilot, lambda: merges.row_count == 7)
        rebuilds = merges.rebuilds
        testing = first.merges_live[0]
        bounced = dataclasses.replace(testing, status="bounced", result="conflict in a.py")
        later = dataclasses.replace(
            first, merges_live=first.merges_live[1:], merges_done=(bounced, *first.merges_done)
        )
        source.push(later)
        wanted = [str(m.id) for m in (*later.merges_live, *later.merges_done)]
        await until(pilot, lambda: [r.key.value for r in merges.ordered_rows] == wanted)
        assert merges.rebuilds == rebuilds
        assert merges.rows[merges.ordered_rows[2].key].height == 2  # says why, under it


def names_on_screen(table: AgentsTable) -> list[str]:
    """The name column of every row, top to bottom (a narrow pane: after the 2-cell symbol)."""
    return [table.get_row_at(i)[0].plain[2:12].strip() for i in range(table.row_count)]


def _with_agent(snapshot: Snapshot, agent: object, reorder: bool = False) -> Snapshot:
    from swarm.ui.data import AgentRow, order_agents
    from swarm.ui.sample import SAMPLE_RANK

    assert isinstance(agent, AgentRow)
    agents = tuple(agent if a.name == agent.name else a for a in snapshot.agents)
    return dataclasses.replace(
        snapshot, agents=order_agents(agents, SAMPLE_RANK) if reorder else agents
    )


async def test_a_failing_read_is_reported_and_retried() -> None:
    class Flaky(StaticSource):
        calls = 0

        def poll(self, force: bool = False) -> Snapshot | None:
            self.calls += 1
            if self.calls < 3:
                raise OSError("database is locked")
            return super().poll(force)

    app = SidebarApp(Flaky([sample_snapshot(3)]), FakeControls(), poll_interval=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        assert app.read_errors == ["OSError: database is locked"]  # said once, not per tick
        assert app.is_running


async def test_a_store_change_shows_within_a_second(tmp_path: Path) -> None:
    db = tmp_path / "swarm.db"
    with Store.open(db) as store:
        store.upsert_agent("polecat-1", "polecat", "sim")
        app = SidebarApp(StoreSource(db_path=db), FakeControls())
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot)
            loop = asyncio.get_running_loop()
            began = loop.time()
            store.set_agent_state("polecat-1", "waiting", "permission prompt")
            task = store.add_task("a brand new task")

            def shown() -> bool:
                snap = app.snapshot
                return (
                    snap is not None
                    and snap.agents[0].state == "waiting"
                    and any(t.id == task.id for t in snap.queue)
                )

            await until(pilot, shown, timeout=2.0)
            assert loop.time() - began < 1.0
            assert "1 need you" in str(app.query_one("#agents-title").render())
