"""Budgets that hold: a task over its limit is stopped; the daily limit pauses dispatch."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from transcript_lines import Clock, Told, append, assistant

from swarm.budget import (
    Budget,
    HeldTask,
    StopTask,
    WrapUp,
    day_check,
    day_of,
    next_day,
    task_checks,
)
from swarm.store import Store
from swarm.usage.meter import UsageMeter
from swarm.usage.pauses import dispatch_allowed

NOON = time.mktime((2027, 1, 15, 12, 0, 0, 0, 0, -1))  # local noon: a clock the test moves
# One sonnet message of 100k input tokens costs $0.30.
EXPENSIVE = 100_000  # input tokens


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    with Store.open(tmp_path / ".swarm" / "swarm.db", clock=clock) as opened:
        for i in (1, 2):
            name = f"polecat-{i}"
            opened.upsert_agent(name, "polecat", "claude", f"%{i}", i)
            opened.set_agent_state(name, "idle")
            transcript = tmp_path / f"{name}.jsonl"
            transcript.touch()
            opened.set_agent_session(name, f"s{i}", str(transcript))
        yield opened


def spend(store: Store, agent: str, message_id: str, at: float) -> None:
    path = store.get_agent(agent).transcript_path
    assert path is not None
    append(Path(path), assistant(message_id, at=at, input_tokens=EXPENSIVE))


# -- pure decisions ----------------------------------------------------------------------


def test_task_checks_wrap_up_first_then_stop() -> None:
    budget = Budget(task_usd=1.0, wrap_up_grace=60)
    over = HeldTask("sw-a", "polecat-1", "working", NOON, 1.5)
    under = HeldTask("sw-b", "polecat-2", "working", NOON, 0.5)
    first = task_checks([over, under], {}, budget, NOON)
    assert [type(a) for a in first] == [WrapUp] and "wrap up" in first[0].text.lower()  # type: ignore[union-attr]
    assert task_checks([over], {"sw-a": NOON}, budget, NOON + 10) == []  # still working
    ended = HeldTask("sw-a", "polecat-1", "idle", NOON + 20, 1.6)
    stop = task_checks([ended], {"sw-a": NOON}, budget, NOON + 21)
    assert stop == [StopTask("sw-a", "polecat-1", stop[0].reason)]  # type: ignore[union-attr]
    assert "over the task limit of $1.00" in stop[0].reason  # type: ignore[union-attr]
    assert task_checks([over], {"sw-a": NOON}, budget, NOON + 61)  # grace over
    assert task_checks([over], {}, Budget(), NOON) == []  # no limit, no check


def test_day_check_and_the_calendar() -> None:
    assert day_check(10.0, Budget(day_usd=5), paused=False) is not None
    assert day_check(10.0, Budget(day_usd=5), paused=True) is None
    assert day_check(1.0, Budget(day_usd=5), paused=False) is None
    tomorrow = next_day(NOON)
    assert day_of(tomorrow) != day_of(NOON) and day_of(tomorrow - 1) == day_of(NOON)


# -- enforced by the witness's meter -----------------------------------------------------


def test_a_task_over_its_budget_is_told_to_wrap_up_then_failed_with_the_reason(
    store: Store, clock: Clock
) -> None:
    told = Told()
    meter = UsageMeter(store, budget=Budget(task_usd=0.5), nudge=told.nudge, notify=told.notify)
    task = store.add_task("Refactor everything")
    store.hook_task(task.id, "polecat-1")
    store.start_task("polecat-1")
    store.set_agent_state("polecat-1", "working")
    spend(store, "polecat-1", "m1", NOON)
    meter.tick(store.list_agents(), NOON)
    assert store.get_task(task.id).status == "working"  # $0.30: under
    spend(store, "polecat-1", "m2", NOON)
    meter.tick(store.list_agents(), NOON + 1)
    assert [a for a, _ in told.nudges] == ["polecat-1"]
    assert store.get_task(task.id).status == "working"  # told, not yet stopped
    meter.tick(store.list_agents(), NOON + 2)
    assert len(told.nudges) == 1  # told once

    clock.now = NOON + 30
    store.set_agent_state("polecat-1", "idle", "turn ended")  # its wrap-up turn ended
    meter.tick(store.list_agents(), NOON + 31)
    failed = store.get_task(task.id)
    assert failed.status == "failed"
    assert "budget: spent $0.60, over the task limit of $0.50" in failed.notes
    assert store.get_agent("polecat-1").hook is None
    assert [a for a, _ in told.nudges] == ["polecat-1", "polecat-1"]
    assert "was stopped" in told.nudges[-1][1]


def test_nothing_is_stopped_mid_merge(store: Store) -> None:
    told = Told()
    meter = UsageMeter(store, budget=Budget(task_usd=0.1, wrap_up_grace=0), nudge=told.nudge)
    task = store.add_task("Almost there")
    store.hook_task(task.id, "polecat-1")
    spend(store, "polecat-1", "m1", NOON)
    meter.tick(store.list_agents(), NOON)  # told to wrap up
    store.finish_task("polecat-1", "a" * 40, "b" * 40)  # and it did: queued for merging
    meter.tick(store.list_agents(), NOON + 500)
    assert store.get_task(task.id).status == "done"


def test_the_daily_budget_pauses_dispatch_until_the_next_day(store: Store, clock: Clock) -> None:
    told = Told()
    meter = UsageMeter(store, budget=Budget(day_usd=0.5), nudge=told.nudge, notify=told.notify)
    spend(store, "polecat-1", "m1", NOON)
    meter.tick(store.list_agents(), NOON)
    assert dispatch_allowed(store, NOON) is None
    spend(store, "polecat-2", "m2", NOON + 60)
    meter.tick(store.list_agents(), NOON + 60)
    reason = dispatch_allowed(store, NOON + 61, store.get_agent("polecat-1"))
    assert reason is not None and "daily budget: spent $0.60 of $0.50 today" in reason
    assert dispatch_allowed(store, NOON + 61) == reason  # swarm-wide
    spend(store, "polecat-2", "m3", NOON + 120)
    meter.tick(store.list_agents(), NOON + 120)
    meter.tick(store.list_agents(), NOON + 121)
    assert len(told.notes) == 1  # the person is told once
    assert [e.kind for e in store.events() if e.kind.startswith("budget.")] == ["budget.paused"]

    midnight = next_day(NOON)
    assert dispatch_allowed(store, midnight - 1) is not None
    clock.now = midnight + 5
    meter.tick(store.list_agents(), midnight + 5)
    assert dispatch_allowed(store, midnight + 5) is None
    kinds = [e.kind for e in store.events() if e.kind.startswith("budget.")]
    assert kinds == ["budget.paused", "budget.resumed"]
    spend(store, "polecat-1", "m4", midnight + 10)  # a new day's first spending: under
    meter.tick(store.list_agents(), midnight + 10)
    assert dispatch_allowed(store, midnight + 11) is None


# -- the layout's keys -------------------------------------------------------------------


def test_a_layout_sets_budget_and_prices(repo: Path) -> None:
    from swarm.config import load_plan
    from swarm.errors import ConfigError
    from swarm.usage.prices import Price, PriceTable

    layout = repo / "budget.yaml"
    layout.write_text(
        "roles:\n  polecat: {count: 1}\n"
        "budget: {task_usd: 5, day_usd: 200}\n"
        "prices:\n  claude-sonnet-4-5: {input: 1, output: 2}\n"
    )
    plan = load_plan(str(layout), repo)
    assert plan.budget == Budget(task_usd=5, day_usd=200)
    table = PriceTable(dict(plan.prices))
    assert table.price_for("claude-sonnet-4-5-20250929") == Price(1, 2)
    assert load_plan("team", repo).budget == Budget()  # no key: no limits

    layout.write_text("roles:\n  polecat: {count: 1}\nbudget: {task_usd: 0}\n")
    with pytest.raises(ConfigError) as info:
        load_plan(str(layout), repo)
    assert info.value.message.endswith(
        "budget.yaml:3:20: budget.task_usd: expected a number greater than 0, got 0"
    )


def test_the_controller_claims_nothing_while_dispatch_is_paused(
    store: Store, tmp_path: Path
) -> None:
    """The one call site in dispatch: a paused swarm claims no task; afterwards it does."""
    from swarm.controller.dispatch import Dispatcher
    from swarm.instance import SwarmInstance
    from swarm.plan import Capabilities, RoleSpec
    from swarm.tmux.client import PaneInfo

    instance = SwarmInstance(tmp_path, tmp_path / ".swarm", "s", "sock", "team", tmp_path)
    panes = {
        name: PaneInfo(
            f"%{i}",
            "@1",
            "w",
            0,
            i,
            name,
            "polecat",
            "w",
            False,
            None,
            1,
            "x",
            80,
            24,
            80,
            24,
            False,
            False,
        )
        for i, name in enumerate(("polecat-1", "polecat-2"))
    }
    task = store.add_task("Wait for tomorrow")
    store.set_pause(
        "budget", "daily budget spent", next_day(NOON), kind="budget.paused", message="paused"
    )
    worker = RoleSpec(
        "polecat", "", "claude", "", capabilities=Capabilities(worktree=True, takes_tasks=True)
    )
    dispatcher = Dispatcher(instance, store, roles=lambda: {"polecat": worker})
    assert dispatcher.plan_handovers(panes) == []
    assert store.get_task(task.id).status == "open"
    store.end_pause("budget", kind="budget.resumed", message="a new day")
    handed = dispatcher.plan_handovers(panes)
    assert [h.task.id for h in handed] == [task.id]


def test_budget_and_prices_survive_the_plan_file(repo: Path) -> None:
    """Every process reads the plan file `swarm up` wrote, never the layout again."""
    from swarm.config import load_plan
    from swarm.planfile import read_plan, write_plan
    from swarm.usage.prices import Price

    layout = repo / "budget.yaml"
    layout.write_text(
        "roles:\n  polecat: {count: 1}\n"
        "budget: {task_usd: 2.5, day_usd: 40}\n"
        "prices:\n  claude-opus-5: {input: 1, output: 2, cache_read: 0.5}\n"
    )
    plan = load_plan(str(layout), repo)
    write_plan(plan)
    again = read_plan(plan.state_dir)
    assert again.budget == Budget(task_usd=2.5, day_usd=40)
    assert again.prices == (("claude-opus-5", Price(1, 2, None, 0.5)),)
