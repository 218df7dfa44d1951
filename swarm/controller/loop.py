"""The controller's main loop (anyio): wake on store changes, dispatch, watch the helpers.

It wakes when the store changes or every second, so a new task reaches an idle polecat at
once: on PostgreSQL asleep on the process's LISTEN connection (no query while nothing
changes, woken within milliseconds of any machine's commit), on SQLite by a look at its
`data_version` (a free pragma) every TICK. A busy swarm changes the store many
times a second; those wake-ups dispatch with a pane list at most PANES_FRESH old (one tmux
call per half second, not per change), and the supervision below runs once a second.
Hand-overs run in a bounded pool of
worker threads (a burst of 300 tasks is never 300 threads); the store is only touched from
the loop's own thread.

It keeps the witness, refinery and sidebar panes alive: a dead one is respawned in place,
a vanished one rebuilt (`swarm.heal`, under the build lock, so never while `swarm up`
builds); the witness does the same for the controller's own pane. A second pane for an
agent is removed whichever of the two sees it first.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from swarm.actions import launch_args
from swarm.controller.dispatch import CONFIRM_WAIT, Dispatcher, Handover, hand_over
from swarm.delivery import Deliverer, DeliveryResult
from swarm.errors import SwarmError
from swarm.heal import build_lock, current_plan, healing_plan, reconcile, remove_extra_panes
from swarm.instance import SwarmInstance
from swarm.runtimes.registry import runtime_for
from swarm.singleton import log_line, run_daemon
from swarm.store import Store
from swarm.store.health import StoreLost, StoreWatch
from swarm.team.pushes import Pusher
from swarm.tmux.builder import extra_panes
from swarm.tmux.client import PaneInfo, Tmux

TICK = 0.1  # seconds between looks at SQLite's data_version; the least gap between two passes
IDLE_TICK = 1.0  # a full pass (fresh panes, supervision) at least this often, changed or not
PANES_FRESH = 0.5  # seconds a dispatch pass may reuse the last pane list
SIDEBAR = "sidebar"  # the sidebar's pane (a pane of the swarm's own, not an agent)
RESPAWN_BACKOFF = 2.0  # doubled after each respawn that did not last
RESPAWN_BACKOFF_MAX = 120.0
STABLE_AFTER = 60.0  # a pane alive this long resets its backoff
RECONCILE_EVERY = 3.0  # seconds between two tries at rebuilding a vanished pane
PLAN_FRESH = 30.0  # seconds the plan's list of supervised panes is trusted
# Threads typing hand-overs at once. They mostly wait (a paste's gap, a prompt report), so
# one per agent of the largest swarm; their git work takes turns on the cores
# (dispatch.PREPARE_SLOTS).
HANDOVER_WORKERS = 128

Log = Callable[[str], None]


@dataclass
class Controller:
    instance: SwarmInstance
    log: Log = log_line
    in_flight: set[str] = field(default_factory=set)
    dead_since: dict[str, float] = field(default_factory=dict)
    backoff: dict[str, float] = field(default_factory=dict)
    respawned_at: dict[str, float] = field(default_factory=dict)
    reconciled_at: float = float("-inf")
    planned: frozenset[str] | None = None  # the supervised panes the plan has
    planned_at: float = float("-inf")
    live: list[PaneInfo] = field(default_factory=list)
    live_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.tmux = Tmux(self.instance.socket)
        self.deliverer = Deliverer(
            self.tmux, self.instance.state_dir / "locks", ack_timeout=CONFIRM_WAIT
        )
        self.workers = anyio.CapacityLimiter(HANDOVER_WORKERS)
        self.pusher: Pusher | None = None  # a team: this machine's polecats' pushes
        if self.instance.remote:
            repo, remote, host = self.instance.repo, self.instance.remote, self.instance.host
            self.pusher = Pusher(repo, remote, host, self.log)

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
                last_full = last_pass = float("-inf")
                while until is None or not until():
                    version = store.data_version()
                    now = time.monotonic()
                    full = now - last_full >= IDLE_TICK
                    if version != last_version or full:
                        last_version = version
                        last_full = now if full else last_full
                        last_pass = now
                        lost = watch.problem() if watch else None  # never from a lost store
                        if lost is not None:
                            break
                        self.tick(store, dispatcher, group, full=full)
                    await wait_for_store(store, last_version, last_full + IDLE_TICK, last_pass)
                group.cancel_scope.cancel()
        finally:
            store.close()
        if lost is not None:
            self.log(f"STOPPED: {lost}")
            raise StoreLost(lost)

    def tick(
        self,
        store: Store,
        dispatcher: Dispatcher,
        group: anyio.abc.TaskGroup,
        *,
        full: bool = True,
    ) -> None:
        live = self.panes(fresh=full)  # at most the tick's one tmux question
        if self.pusher is not None:
            self.pusher.start(store, group)
        panes = {p.agent: p for p in live if p.agent}
        if not panes:
            return  # the session is gone (swarm down): nothing to drive
        if full:
            if extra_panes((p.agent, p.pane_id) for p in live):
                for removed in remove_extra_panes(self.instance, self.tmux, store, "controller"):
                    self.log(f"second pane removed: {removed}")
                self.live_at = float("-inf")
                return  # look again next tick, with one pane per agent
            self.supervise(store, panes)
            self.heal_missing(store, panes)
        for handover in dispatcher.plan_handovers(panes, busy=set(self.in_flight)):
            self.in_flight.add(handover.agent)
            verb = "re-delivering" if handover.redelivery else "handing"
            self.log(f"{verb} {handover.task.id} to {handover.agent}: {handover.task.title}")
            group.start_soon(self._hand_over, dispatcher, handover)

    async def _hand_over(self, dispatcher: Dispatcher, handover: Handover) -> None:
        outcome: DeliveryResult | Exception
        try:
            outcome = await anyio.to_thread.run_sync(
                hand_over,
                self.instance,
                self.deliverer,
                handover,
                dispatcher.acks,
                limiter=self.workers,
            )
        except Exception as exc:  # reported and recorded; the loop goes on
            outcome = exc
            self.live_at = float("-inf")  # the pane may be gone: ask tmux again
            self.log(f"hand-over of {handover.task.id} to {handover.agent} failed: {exc}")
        finally:
            self.in_flight.discard(handover.agent)
        dispatcher.record(handover, outcome)

    def panes(self, *, fresh: bool) -> list[PaneInfo]:
        """Every pane of the session: asked of tmux when `fresh` or the last answer is older
        than PANES_FRESH (a dispatch to a pane that died since fails and is retried)."""
        now = time.monotonic()
        if fresh or now - self.live_at > PANES_FRESH:
            self.live = self.tmux.list_panes(self.instance.session)
            self.live_at = now
        return self.live

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
            with build_lock(self.instance.state_dir, wait=False) as held:
                if not held:
                    continue  # `swarm up` is building (and respawns dead panes itself)
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

    def heal_missing(self, store: Store, panes: dict[str, PaneInfo]) -> None:
        """Rebuild a vanished witness, refinery or sidebar pane (the witness cannot rebuild
        its own, and rebuilds the controller's)."""
        expected = self._expected(store)
        missing = [name for name in expected if name not in panes]
        if not missing:
            return  # the common case: no plan read, no lock taken
        now = time.monotonic()
        if now - self.reconciled_at < RECONCILE_EVERY:
            return
        self.reconciled_at = now
        reason = f"{', '.join(missing)} pane{'s' if len(missing) > 1 else ''} gone"
        try:
            report = reconcile(self.instance, self.tmux, store, reason, who="controller")
        except SwarmError as exc:
            self.log(f"rebuilding {', '.join(missing)} failed: {exc.message}")
            return
        if report is not None:
            self.live_at = float("-inf")  # new panes: ask tmux again
            self.log(f"{reason}: rebuilt {', '.join(report.created) or 'nothing'}")

    def _expected(self, store: Store) -> frozenset[str]:
        """The panes the controller supervises that `swarm up` built (the swarm's own loops
        and the sidebar), read from the store and the plan file every PLAN_FRESH seconds."""
        now = time.monotonic()
        if self.planned is None or now - self.planned_at > PLAN_FRESH:
            agents = store.list_agents()
            loops = {a.name for a in agents if runtime_for(a.runtime).builtin_loop}
            try:
                plan = healing_plan(current_plan(self.instance), {a.name for a in agents})
                names = {p.name for p in plan.pane_specs() if p.name in loops or p.kind == SIDEBAR}
            except SwarmError as exc:
                self.log(f"no plan to rebuild from ({exc.message}); rebuilding nothing")
                names = set()
            self.planned = frozenset(names)
            self.planned_at = now
        return self.planned


async def wait_for_store(store: Store, since: int, until: float, last_pass: float) -> None:
    """Until the store changes past `since` or the monotonic time `until` (the next full pass).

    PostgreSQL: asleep on LISTEN in a worker thread (the listener is thread-safe; the store's
    own connection is not touched there), then at least TICK after the last pass, so a busy
    team costs at most as many passes as polling did. SQLite: one TICK, then the loop's
    thread reads `data_version` on its own connection.
    """
    if not store.listens:
        await anyio.sleep(TICK)
        return
    left = until - time.monotonic()
    if left > 0:
        await anyio.to_thread.run_sync(store.wait_for_change, since, left, abandon_on_cancel=True)
    gap = last_pass + TICK - time.monotonic()
    if gap > 0:
        await anyio.sleep(gap)


def supervised(store: Store, panes: dict[str, PaneInfo]) -> list[str]:
    """Panes the controller keeps alive itself: the swarm's own loops (witness, refinery)
    and the sidebar. The witness restarts agents, with backoff."""
    loops = [a.name for a in store.list_agents() if runtime_for(a.runtime).builtin_loop]
    return [*loops, *(name for name, pane in panes.items() if pane.role == SIDEBAR)]


def run_controller(instance: SwarmInstance) -> int:
    """`swarm controller`: the one controller of the swarm, until stopped."""
    return run_daemon(instance.state_dir, "controller", lambda: anyio.run(Controller(instance).run))
