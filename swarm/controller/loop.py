"""The controller's main loop (anyio): wake on store changes, dispatch, watch the helpers.

It wakes when the store changes (SQLite's `data_version`, a free check) or every second,
so a new task reaches an idle polecat within a tick. Hand-overs run in worker threads; the
store is only touched from the loop's own thread.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from swarm.actions import launch_args
from swarm.controller.dispatch import Dispatcher, Handover, hand_over
from swarm.delivery import Deliverer, DeliveryResult
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.runtimes.registry import runtime_for
from swarm.singleton import log_line, run_daemon
from swarm.store import Store
from swarm.store.health import StoreLost, StoreWatch
from swarm.tmux.client import PaneInfo, Tmux

TICK = 0.1  # seconds between looks at the store's data_version
IDLE_TICK = 1.0  # a full pass at least this often, changed or not
SIDEBAR = "sidebar"  # the sidebar's pane (a pane of the swarm's own, not an agent)
RESPAWN_BACKOFF = 2.0  # doubled after each respawn that did not last
RESPAWN_BACKOFF_MAX = 120.0
STABLE_AFTER = 60.0  # a pane alive this long resets its backoff

Log = Callable[[str], None]


@dataclass
class Controller:
    instance: SwarmInstance
    log: Log = log_line
    in_flight: set[str] = field(default_factory=set)
    dead_since: dict[str, float] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)
    respawned_at: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tmux = Tmux(self.instance.socket)
        self.deliverer = Deliverer(self.tmux, self.instance.state_dir / "locks")

    async def run(self, *, until: Callable[[], bool] | None = None) -> None:
        store = self.instance.open_store()
        watch = StoreWatch.of(store.path)  # a SQLite file deleted or replaced: stop, say so
        dispatcher = Dispatcher(self.instance, store)
        store.add_event("controller.start", f"controller started (pid {os.getpid()})")
        self.log(f"controller for swarm {self.instance.session} (pid {os.getpid()})")
        lost: str | None = None
        try:
            async with anyio.create_task_group() as group:
                last_version = -1
                last_pass = 0.0
                while until is None or not until():
                    version = store.data_version()
                    now = time.monotonic()
                    if version != last_version or now - last_pass >= IDLE_TICK:
                        last_version, last_pass = version, now
                        lost = watch.problem() if watch else None  # never from a lost store
                        if lost is not None:
                            break
                        self.tick(store, dispatcher, group)
                    await anyio.sleep(TICK)
                group.cancel_scope.cancel()
        finally:
            store.close()
        if lost is not None:
            self.log(f"STOPPED: {lost}")
            raise StoreLost(lost)

    def tick(self, store: Store, dispatcher: Dispatcher, group: anyio.abc.TaskGroup) -> None:
        panes = {p.agent: p for p in self.tmux.list_panes(self.instance.session) if p.agent}
        if not panes:
            return  # the session is gone (swarm down): nothing to drive
        self.supervise(store, panes)
        for handover in dispatcher.plan_handovers(panes, busy=set(self.in_flight)):
            self.in_flight.add(handover.agent)
            verb = "re-delivering" if handover.redelivery else "handing"
            self.log(f"{verb} {handover.task.id} to {handover.agent}: {handover.task.title}")
            group.start_soon(self._hand_over, dispatcher, handover)

    async def _hand_over(self, dispatcher: Dispatcher, handover: Handover) -> None:
        outcome: DeliveryResult | Exception
        try:
            outcome = await anyio.to_thread.run_sync(
                hand_over, self.instance, self.deliverer, handover
            )
        except Exception as exc:  # reported and recorded; the loop goes on
            outcome = exc
            self.log(f"hand-over of {handover.task.id} to {handover.agent} failed: {exc}")
        finally:
            self.in_flight.discard(handover.agent)
        dispatcher.record(handover, outcome)

    def supervise(self, store: Store, panes: dict[str, PaneInfo]) -> None:
        """Respawn a dead witness, refinery or sidebar in place (same pane, same command).

        A pane that keeps dying is respawned less and less often (2 s, 4 s, … 2 min), so a
        broken command never turns into a fork storm.
        """
        now = time.monotonic()
        for name in supervised(store, panes):
            pane = panes.get(name)
            if pane is None or not pane.dead:
                self.dead_since.pop(name, None)
                if now - self.respawned_at.get(name, 0.0) > STABLE_AFTER:
                    self.backoff.pop(name, None)
                continue
            first_seen = self.dead_since.setdefault(name, now)
            wait = self.backoff.get(name, RESPAWN_BACKOFF)
            if now - first_seen < wait:
                continue
            # Said again in full: a bare respawn would run with the session's environment only.
            try:
                launch = launch_args(self.instance, name)
            except SwarmError as exc:  # no plan to respawn from: say so, never guess
                self.log(f"{name} pane died; not respawned: {exc.message}")
                self.dead_since[name] = now
                self.backoff[name] = min(wait * 2, RESPAWN_BACKOFF_MAX)
                continue
            self.tmux.run(("respawn-pane", "-k", "-t", pane.pane_id, *launch), check=False)
            self.dead_since.pop(name, None)
            self.respawned_at[name] = now
            self.backoff[name] = min(wait * 2, RESPAWN_BACKOFF_MAX)
            message = (
                f"{name} pane died (status {pane.dead_status}); "
                f"respawned, next wait {self.backoff[name]:.0f}s"
            )
            store.add_event("controller.respawn", message, agent=name)
            if store.find_agent(name) is not None:
                store.record_restart(name)
            self.log(message)


def supervised(store: Store, panes: dict[str, PaneInfo]) -> list[str]:
    """Panes the controller keeps alive itself: the swarm's own loops (witness, refinery)
    and the sidebar. The witness restarts agents, with backoff."""
    loops = [a.name for a in store.list_agents() if runtime_for(a.runtime).builtin_loop]
    return [*loops, *(name for name, pane in panes.items() if pane.role == SIDEBAR)]


def run_controller(instance: SwarmInstance) -> int:
    """`swarm controller`: the one controller of the swarm, until stopped."""
    return run_daemon(instance.state_dir, "controller", lambda: anyio.run(Controller(instance).run))
