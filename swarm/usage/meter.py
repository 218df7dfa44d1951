"""The witness's usage pass: read what the transcripts added, attribute it, enforce budgets.

One `UsageMeter.tick(agents, now)` per witness tick. When no transcript grew it costs one
`stat` per agent (see benchmarks/bench_usage.py); when some did, only their new bytes are
read and all new usage is written in one transaction, attributed to the task each agent
holds at that moment. Then, only when something changed: the budget checks, the pauses
whose time is up (limited agents told to continue), the person told once per pause, and
history files for the tasks that ended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from swarm import history
from swarm.budget import (
    BUDGET_SCOPE,
    Budget,
    HeldTask,
    StopTask,
    WrapUp,
    day_check,
    day_of,
    next_day,
    task_checks,
)
from swarm.errors import SwarmError
from swarm.plan import SwarmPlan
from swarm.reports import is_turn_wait
from swarm.store import Store
from swarm.store.models import HELD_TASK_STATUSES, Agent
from swarm.store.usage import Cursor
from swarm.usage.holds import AFTER_END, Holds
from swarm.usage.limits import RESUME_TEXT, clock_text, default_wait, due, parse_limit
from swarm.usage.pauses import apply_limit
from swarm.usage.prices import PriceTable
from swarm.usage.tokens import Usage
from swarm.usage.transcript import read_new

Nudge = Callable[[str, str, str], None]  # agent, text, reason
Notify = Callable[[str, str], None]  # title, message
Log = Callable[[str], None]
STALE_ERROR = 600.0  # an API error older than this (a backlog read) starts no pause
STOPPED_TEXT = (
    "Task {task} was stopped ({reason}) and marked failed. Stop working on it and wait for "
    "the next task."
)
TICK_BYTES = 2 << 20  # no new transcript read starts after this many bytes in one tick
SEED_EVENTS = 2000
SAVE_EVERY = 2.0  # seconds between two writes of new usage by the witness


def _quiet(*_args: object) -> None:
    return None


@dataclass
class UsageMeter:
    store: Store
    prices: PriceTable = field(default_factory=PriceTable)
    budget: Budget = field(default_factory=Budget)
    state_dir: Path | None = None  # where history files go; None: none written
    nudge: Nudge = _quiet
    notify: Notify = _quiet
    log: Log = _quiet
    limit_wait: float = field(default_factory=default_wait)
    cursors: dict[str, Cursor] = field(default_factory=dict)
    warned: dict[str, float] = field(default_factory=dict)  # task -> when told to wrap up
    unpriced: set[str] = field(default_factory=set)
    holds: Holds = field(default_factory=Holds)  # who held which task when
    _dirty: bool = True  # something to look at besides transcripts
    _ended: bool = True  # a task ended: history files to write (and once at start)
    _next_due: float = 0.0  # the earliest moment a pause ends
    _turn: int = 0  # which agent's transcript is read first this tick
    # Read but not yet written: rows and the cursors that cover them, saved together every
    # `save_every` seconds (a store write costs more than all the reading of a tick). A
    # witness killed in between reads the same bytes again from the saved cursors.
    save_every: float = 0.0
    _unsaved: dict[str, Cursor] = field(default_factory=dict)
    _rows: list[tuple[str, str, str, str, str, Usage]] = field(default_factory=list)
    _saved_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.cursors = self.store.usage_cursors()
        recent = self.store.latest_events(SEED_EVENTS)
        self.holds.seed(self.store.list_agents(), recent)
        for event in recent:
            if event.kind == "budget.wrap_up" and event.task:
                self.warned[event.task] = event.ts
            elif event.kind == "task.failed" and event.task:
                self.warned.pop(event.task, None)

    def use_plan(self, plan: SwarmPlan | None) -> None:
        """A new `swarm up` wrote a new plan: its budget and prices apply from now on."""
        self.prices, self.budget = _plan_settings(plan)
        self._dirty = True

    def tick(self, agents: list[Agent], now: float) -> list[str]:
        """Returns what it did, one line per action (for the witness's log and tests).

        Never raises a swarm error into the witness's tick: it is logged, and the next tick
        tries again (the cursors only move with what was recorded)."""
        done: list[str] = []
        try:
            self._tick(agents, now, done)
        except (SwarmError, OSError) as exc:
            done.append(f"usage: {getattr(exc, 'message', None) or exc}")
        for line in done:
            self.log(line)
        return done

    def _tick(self, agents: list[Agent], now: float, done: list[str]) -> None:
        news = self.store.events(after_id=self.holds.last_event)  # one indexed query
        if news:  # every change worth a look writes an event, whichever process made it
            self.holds.follow(news)
            self._dirty = True
            self._ended = self._ended or any(e.kind in history.ENDINGS for e in news)
        spent = self._read(agents, now, done)
        if spent or self.warned:
            self._task_budget(agents, now, done)
        if spent or self._dirty:
            self._day_budget(now, done)
        if self._dirty or now >= self._next_due:
            self._pauses(now, done)
        if self._ended and self.state_dir is not None:
            for path in history.sync(self.store, self.state_dir):
                done.append(f"history: {path.name}")
        self._dirty = self._ended = False

    # -- transcripts -------------------------------------------------------------------

    def _read(self, agents: list[Agent], now: float, done: list[str]) -> bool:
        rows = self._rows
        budget = TICK_BYTES
        start = self._turn % len(agents) if agents else 0
        self._turn += 1
        for agent in agents[start:] + agents[:start]:  # a backlog never starves the same agents
            path = agent.transcript_path
            if not path or budget <= 0:
                continue
            before = self.cursors.get(path) or Cursor(agent.name, path)
            result = read_new(before)
            if result is None:
                continue
            budget -= result.cursor.offset - (
                before.offset if result.cursor.inode == before.inode else 0
            )
            self.cursors[path] = self._unsaved[path] = result.cursor
            for item in result.spent:
                if self.prices.price_for(item.model) is None and item.model not in self.unpriced:
                    self.unpriced.add(item.model)
                    done.append(f"no price for model {item.model!r}: add it under `prices:`")
                priced = self.prices.cost(item.model, item.usage)
                when = item.at if item.at is not None else now
                task = self.holds.task_at(agent.name, when) if item.at is not None else None
                unseen = bool(agent.hook) and not self.holds.knows(agent.name, agent.hook or "")
                if task is None or (not task and unseen and when >= now - AFTER_END):
                    # No time, or a hold the log has not shown yet. (Spent before a hold the
                    # log shows, it stays with no task: the start-up turn read late.)
                    task = agent.hook or ""
                rows.append((agent.name, agent.role, task, day_of(when), item.model, priced))
            for text, at in result.errors:
                if at is not None and at < now - STALE_ERROR:
                    continue
                signal = parse_limit(text, at if at is not None else now)  # "retry in 30s"
                if signal is not None and (signal.reset_at is None or signal.reset_at > now):
                    apply_limit(self.store, agent, signal, now, self.limit_wait)
                    done.append(f"{agent.name}: {signal.reason}")
                    self._dirty = True
            answered = [s.at for s in result.spent if s.at is not None]
            if (
                agent.state == "limited"
                and not result.errors
                and max(answered, default=0.0) > agent.state_since  # its retry got through
            ):
                self.store.set_agent_state(agent.name, "working", "the API answers again")
                done.append(f"{agent.name}: no longer limited (the API answers again)")
        if not self._unsaved or now - self._saved_at < self.save_every:
            return False
        self.store.record_usage(list(self._unsaved.values()), rows)
        spent = bool(rows)
        self._unsaved, self._rows, self._saved_at = {}, [], now
        return spent

    # -- budgets -----------------------------------------------------------------------

    def _task_budget(self, agents: list[Agent], now: float, done: list[str]) -> None:
        if self.budget.task_usd is None:
            return
        live = {t.id for t in self.store.list_tasks(HELD_TASK_STATUSES)}
        self.warned = {task: at for task, at in self.warned.items() if task in live}
        costs = self.store.usage_by("task")
        held = [
            HeldTask(a.hook, a.name, a.state, a.state_since, costs.get(a.hook, Usage()).cost_usd)
            for a in agents
            if a.hook and a.hook in live
        ]
        for action in task_checks(held, self.warned, self.budget, now):
            if isinstance(action, WrapUp):
                self.warned[action.task] = now
                self.store.add_event(
                    "budget.wrap_up",
                    f"{action.task} is over its budget; {action.agent} told to wrap up",
                    agent=action.agent,
                    task=action.task,
                )
                self.nudge(action.agent, action.text, f"{action.task} over budget")
                done.append(f"{action.agent}: told to wrap up {action.task} (budget)")
            elif isinstance(action, StopTask):
                self._stop(action, done)

    def _stop(self, action: StopTask, done: list[str]) -> None:
        with self.store.transaction():
            task = self.store.get_task(action.task)
            if task.status not in HELD_TASK_STATUSES:
                return  # finished meanwhile (in the merge queue: never stopped mid-merge)
            self.store.fail_task(action.task, action.reason)
        self.warned.pop(action.task, None)
        self._dirty = self._ended = True
        self.nudge(action.agent, STOPPED_TEXT.format(task=action.task, reason=action.reason), "")
        done.append(f"{action.task} failed: {action.reason}")

    def _day_budget(self, now: float, done: list[str]) -> None:
        if self.budget.day_usd is None:
            return
        pause = self.store.pauses().get(BUDGET_SCOPE)
        paused = pause is not None and pause.active(now)
        spent = self.store.usage_total(day=day_of(now)).cost_usd
        reason = day_check(spent, self.budget, paused)
        if reason is None:
            return
        until = next_day(now)
        self.store.set_pause(
            BUDGET_SCOPE,
            reason,
            until,
            kind="budget.paused",
            message=f"{reason}; no new tasks until {clock_text(until, now)}",
        )
        self._dirty = True
        done.append(reason)

    # -- pauses ------------------------------------------------------------------------

    def _pauses(self, now: float, done: list[str]) -> None:
        pauses = self.store.pauses()
        for pause in pauses.values():
            if pause.active(now) and pause.notified_at is None:
                until = f" until {clock_text(pause.until, now)}" if pause.until else ""
                what = "budget" if pause.scope == BUDGET_SCOPE else "usage limit"
                message = f"{pause.reason}: dispatch paused{until}"
                self.notify(f"swarm: {what}", message)
                self.store.mark_pause_notified(pause.scope)
                done.append(f"told the person: {message}")
        for pause in due(pauses, now):
            self._resume(pause.scope, pause.agents, now, done)
        upcoming = [p.until for p in pauses.values() if p.active(now) and p.until is not None]
        self._next_due = min(upcoming, default=now + 60.0)

    def _resume(self, scope: str, names: tuple[str, ...], now: float, done: list[str]) -> None:
        if scope == BUDGET_SCOPE:
            message = "a new day: the daily budget starts again, dispatch goes on"
            self.store.end_pause(scope, kind="budget.resumed", message=message)
            done.append(message)
            return
        told: list[str] = []
        for name in names:
            fresh = self.store.find_agent(name)
            if fresh is None:
                continue
            stopped_mid_task = fresh.hook is not None and (
                fresh.state in ("idle", "stalled")
                or (fresh.state == "waiting" and is_turn_wait(fresh.detail))
            )
            if fresh.state != "limited" and not stopped_mid_task:
                continue
            self.store.set_agent_state(
                name, "working" if fresh.hook else "idle", "usage limit over; told to continue"
            )
            self.nudge(name, RESUME_TEXT, "usage limit over")
            told.append(name)
        message = f"usage limit over ({scope.split(':', 1)[-1]}): " + (
            f"{', '.join(told)} told to continue" if told else "dispatch goes on"
        )
        self.store.end_pause(scope, kind="usage.resumed", message=message)
        self._dirty = True
        done.append(message)


def _plan_settings(plan: SwarmPlan | None) -> tuple[PriceTable, Budget]:
    if plan is None:
        return PriceTable(), Budget()
    return PriceTable(dict(plan.prices)), plan.budget


def for_plan(
    store: Store,
    plan: SwarmPlan | None,
    state_dir: Path,
    *,
    nudge: Nudge = _quiet,
    notify: Notify = _quiet,
    log: Log = _quiet,
) -> UsageMeter:
    """The meter a witness runs: the plan's prices and budget (none if it has no plan)."""
    prices, budget = _plan_settings(plan)
    return UsageMeter(
        store,
        prices=prices,
        budget=budget,
        state_dir=state_dir,
        save_every=SAVE_EVERY,
        nudge=nudge,
        notify=notify,
        log=log,
    )
