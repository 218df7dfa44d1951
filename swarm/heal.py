"""Building and healing the swarm's panes: one build at a time, one pane per agent.

Three processes change the session's structure: `swarm up` builds it, the witness rebuilds
what vanished (an agent's pane, the controller's window) and the controller rebuilds what
the witness cannot (the witness's own pane, the refinery's, the sidebar's). Two of them
building at once is how one agent got two panes: the witness saw the controller's window
missing while `up` was still creating it, and built it (and thirty polecats) a second time.

So every build holds one lock, `.swarm/build.lock` (an flock: a killed builder releases it
at once). `swarm up` waits for it; a healer that finds it taken skips its turn, since the
holder is building that very pane, and reads the panes again once it holds the lock, so a
pane someone else just made is never made twice. A second pane for an agent, however it
came about, is removed by the next build or by `remove_extra_panes`, with an event.

A healer rebuilds only what `swarm up` built, from the plan file it wrote, and of that
only the agents registered in the store, the controller and the sidebar (`healing_plan`):
a healer must never start an agent the person did not bring up.

Agents are registered from the plan before their panes start, so the first signal their
runtime sends (a SessionStart report a second later) finds them; pane ids and pids are
filled in once the panes exist.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from swarm.errors import SwarmError
from swarm.flocks import wait_for_flock
from swarm.instance import SwarmInstance
from swarm.plan import SwarmPlan
from swarm.planfile import read_plan
from swarm.store import Store
from swarm.tmux.builder import BuildReport, ProgressFn, SwarmBuilder, extra_panes
from swarm.tmux.client import Tmux

BUILD_LOCK = "build.lock"
BUILD_WAIT = 120.0  # seconds `swarm up` waits for a healer's build to finish


@contextmanager
def build_lock(state_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the swarm's build lock; yields False (at once) if `wait` is off and it is taken."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / BUILD_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        if not wait_for_flock(fd, BUILD_WAIT if wait else 0.0):
            if not wait:
                yield False
                return
            raise SwarmError(
                f"another build of this swarm has held {state_dir / BUILD_LOCK} "
                f"for over {BUILD_WAIT:.0f}s; try again"
            )
        yield True
    finally:
        os.close(fd)


def current_plan(instance: SwarmInstance) -> SwarmPlan:
    """The plan the running swarm was brought up with (the plan file `swarm up` wrote)."""
    return read_plan(instance.state_dir)


def healing_plan(plan: SwarmPlan, registered: Collection[str]) -> SwarmPlan:
    """The part of `plan` a healer may rebuild: the registered agents' panes, the controller
    and the sidebar; windows left with no pane are dropped."""
    windows = []
    for window in plan.windows:
        panes = tuple(p for p in window.panes if p.kind != "agent" or p.name in registered)
        if panes:
            windows.append(replace(window, panes=panes))
    agents = tuple(a for a in plan.agents if a.name in registered)
    return replace(plan, windows=tuple(windows), agents=agents)


def build(
    plan: SwarmPlan,
    tmux: Tmux,
    store: Store,
    *,
    on_progress: ProgressFn | None = None,
    healing: bool = False,
) -> BuildReport:
    """Build or reconcile the session; the caller holds the build lock.

    A healer (`healing`) only creates missing panes: it neither respawns dead ones (their
    supervisors do, with backoff), removes panes, nor forgets agents the plan does not name
    (the person's `swarm up` decides that).
    """
    keep = {a.name: a.pane for a in store.list_agents()}

    def register(report: BuildReport) -> None:
        with store.transaction():  # one commit for the whole roster, not two per agent
            register_agents(store, plan, report, forget=not healing)

    builder = SwarmBuilder(plan, tmux, on_progress=on_progress)
    report = builder.build(before_start=register, only_missing=healing, keep=keep)
    with store.transaction():
        record_panes(store, plan, report)
    for duplicate in report.duplicates:
        agent, _, pane_id = duplicate.partition(" ")
        store.add_event(
            "swarm.duplicate", f"{agent} had a second pane ({pane_id}); removed", agent=agent
        )
    return report


def register_agents(store: Store, plan: SwarmPlan, report: BuildReport, *, forget: bool) -> None:
    """Before any pane starts: every planned agent is known to the store, and those whose
    pane is about to start are `starting`; agents gone from the plan are forgotten."""
    for agent in plan.agents:
        known = store.find_agent(agent.name)
        pane = report.panes.get(agent.name)
        if known is None or (known.role, known.runtime) != (agent.role.name, agent.runtime):
            store.upsert_agent(
                agent.name,
                agent.role.name,
                agent.runtime,
                pane.pane_id if pane else None,
                pane.pid if pane else None,
            )
        if agent.name in report.created or agent.name in report.respawned:
            store.set_agent_state(agent.name, "starting", "pane started by swarm up")
    if not forget:
        return
    planned = {a.name for a in plan.agents}
    for known in store.list_agents():
        if known.name not in planned:
            if known.hook:
                store.release_task(known.hook, f"{known.name} was removed from the layout")
            store.remove_agent(known.name)


def record_panes(store: Store, plan: SwarmPlan, report: BuildReport) -> None:
    """After the build: the store learns each agent's pane and pid."""
    for agent in plan.agents:
        pane = report.panes.get(agent.name)
        if pane is not None:
            store.upsert_agent(agent.name, agent.role.name, agent.runtime, pane.pane_id, pane.pid)


def reconcile(
    instance: SwarmInstance, tmux: Tmux, store: Store, reason: str, *, who: str
) -> BuildReport | None:
    """A healer's rebuild of whatever pane vanished; None if a build is under way elsewhere
    or nothing was missing once the lock was held (someone else rebuilt it)."""
    with build_lock(instance.state_dir, wait=False) as held:
        if not held:
            return None
        plan = healing_plan(current_plan(instance), {a.name for a in store.list_agents()})
        live = tmux.list_panes(instance.session)
        if not live:
            return None  # the session is gone (`swarm down`): nothing to heal
        present = {p.agent for p in live}
        duplicated = extra_panes((p.agent, p.pane_id) for p in live)
        if all(p.name in present for p in plan.pane_specs()) and not duplicated:
            return None
        report = build(plan, tmux, store, healing=True)
    made = ", ".join(report.created) or "nothing"
    store.add_event(
        f"{who}.reconcile",
        f"{reason}: rebuilt {made}",
        data={"created": report.created, "duplicates": report.duplicates},
    )
    return report


def remove_extra_panes(instance: SwarmInstance, tmux: Tmux, store: Store, who: str) -> list[str]:
    """Kill every second pane of an agent (under the build lock, after a fresh look);
    the removed panes as "agent pane_id"."""
    with build_lock(instance.state_dir, wait=False) as held:
        if not held:
            return []  # a build is under way, and builds remove duplicates themselves
        live = tmux.list_panes(instance.session)
        keep = {a.name: a.pane for a in store.list_agents()}
        extras = extra_panes(((p.agent, p.pane_id) for p in live), keep)
        if extras:
            tmux.run(*(("kill-pane", "-t", pane_id) for _agent, pane_id in extras), check=False)
    for agent, pane_id in extras:
        store.add_event(
            "swarm.duplicate",
            f"{agent} had a second pane ({pane_id}); removed by the {who}",
            agent=agent,
        )
    return [f"{agent} {pane_id}" for agent, pane_id in extras]
