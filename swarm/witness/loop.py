"""The witness process: every tick, one look at all panes, one state per agent, recovery.

A tick is: one tmux question for every pane (plus what printed since the last tick), a
process-tree sample every `proc_interval`, one store read, the pure decisions of
`state.decide`, screens captured only for the agents whose verdict asked for one (in one
batch, then decided again), the changed states written, the recovery actions carried out,
and the pane borders updated in one batch for the panes whose state or task changed.

Everything the witness remembers (deaths in the window, nudges sent) is rebuilt from the
event history when it restarts; everything it decides is in the store.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from swarm import envnames, paths, roster
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.plan import HealthSpec, SwarmPlan
from swarm.planfile import read_plan
from swarm.runtimes.patterns import ScreenVerdict
from swarm.runtimes.registry import runtime_for
from swarm.singleton import log_line, run_daemon
from swarm.store import Store
from swarm.store.health import StoreWatch
from swarm.store.models import Agent
from swarm.tmux.client import Tmux
from swarm.usage.limits import screen_signal
from swarm.usage.pauses import limit_agent
from swarm.witness.effects import Effects, clear_stale_index_lock, worktree_of
from swarm.witness.metering import usage_meter
from swarm.witness.notify import Notifier
from swarm.witness.overseer import CONTROLLER, ControllerWatch
from swarm.witness.proc import ProcessTracker, TreeSample
from swarm.witness.recovery import Memory, Policy, recover
from swarm.witness.signals import PaneMonitor, PaneScan, PaneSignal
from swarm.witness.state import CPU_BUSY, SETTLE, Observation, Verdict, decide
from swarm.witness.upkeep import Resources, border_commands, resources_of, worth_writing

Log = Callable[[str], None]
Clock = Callable[[], float]

ECHO_WINDOW = 3.0  # seconds after the witness typed into a pane in which its output is an echo
STREAMING_CAPTURES = 6  # screens of panes printing tick after tick looked at per tick, at most
LOCK_SCAN_EVERY = 5.0  # seconds between looks for stale git locks in polecat worktrees
DEATH_SETTLE = 2.0  # seconds to wait for tmux to say how a dead pane's process ended
SEED_EVENTS = 5000  # how far back a restarted witness looks for deaths it saw
CRASH_LOOP = "crash loop"
CALM = frozenset({"idle", "working", "starting"})  # states no recovery policy acts on


@dataclass
class WitnessConfig:
    tick: float = 0.5
    proc_interval: float = 2.0  # psutil samples; a stall verdict always gets a fresh one
    control: bool = True  # use a tmux control-mode client (else one list-panes per tick)


@dataclass
class Screen:
    verdict: ScreenVerdict
    at: float  # wall clock of the capture
    pane_id: str  # the pane captured: a rebuilt pane makes it stale
    pid: int | None  # the pane's process when captured: a respawn makes it stale

    def shows(self, pane: PaneSignal) -> bool:
        """Still the screen of what runs in `pane` now."""
        return self.pane_id == pane.pane_id and self.pid == pane.pid


@dataclass
class Watched:
    """Everything the witness remembers about one agent from one tick to the next."""

    memory: Memory = field(default_factory=Memory)  # deaths and nudges, for recovery
    policy: Policy | None = None  # from the plan, worked out once
    screen: Screen | None = None  # the last capture of its pane
    sample: TreeSample | None = None  # its process tree at the last sample
    sampled_pid: int | None = None  # the pane's process that sample started from
    last_cpu: float | None = None  # when its tree last used the CPU
    dead_pane: str | None = None  # the pane first seen dead at `dead_since`
    dead_since: float = 0.0
    real_output: float | None = None  # its last output that was not the witness's echo
    prior_output: float = 0.0  # the output before that one
    resources: Resources | None = None  # the CPU/RSS last written to the store
    # at a prompt: (the wait it belongs to, when its prompt was seen, when it went missing)
    prompt_watch: tuple[float, float | None, float | None] | None = None
    limit_seen: str | None = None  # the limit its screen showed at the last capture (its key)


@dataclass
class TickReport:
    """What one tick saw and did (for tests and the benchmark)."""

    states: dict[str, Verdict] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # agent -> (old, new)
    captured: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    border_updates: int = 0


class Witness:
    """Watches one swarm; `tick()` once, or `run()` until stopped."""

    def __init__(
        self,
        instance: SwarmInstance,
        store: Store,
        *,
        log: Log = log_line,
        config: WitnessConfig | None = None,
        clock: Clock = time.time,
        plan: SwarmPlan | None = None,
    ) -> None:
        self.instance = instance
        self.store = store
        self.log = log
        self.config = config or WitnessConfig()
        self.clock = clock
        self.tmux = Tmux(instance.socket)
        self.monitor = PaneMonitor(self.tmux, instance.session, control=self.config.control)
        self.procs = ProcessTracker()
        notifier = Notifier(self.tmux, instance.session, runner=self.monitor.query)
        self.effects = Effects(instance, self.tmux, log, notifier)
        self.controller = ControllerWatch(instance.state_dir / "controller.pid")
        self._plan_stamp: int | None = None  # the plan file's mtime when read; None: given
        self.plan = plan if plan is not None else self._load_plan()
        self.watched: dict[str, Watched] = {}  # agent name -> what the witness remembers
        self._next_sample = 0.0
        self._next_lock_scan = 0.0
        self._cached_agents: list[Agent] | None = None
        self._agents_version = -1
        self._session_missing_logged = False
        self._acted = False
        self._sampled_this_tick = False
        self._seed_memory()
        self.usage = usage_meter(self.store, self.plan, instance.state_dir, self.effects, log)

    def close(self) -> None:
        self.effects.close()
        self.monitor.close()

    # -- configuration -----------------------------------------------------------------

    def _load_plan(self) -> SwarmPlan | None:
        """The plan `swarm up` wrote (never the layout, which may have changed since)."""
        self._plan_stamp = self._plan_mtime()
        try:
            return read_plan(self.instance.state_dir)
        except SwarmError as exc:
            self.log(f"{exc.message}; using default health thresholds")
            return None

    def _plan_mtime(self) -> int:
        try:
            return paths.plan_path(self.instance.state_dir).stat().st_mtime_ns
        except OSError:
            return 0

    def _follow_plan(self) -> None:
        """A new `swarm up` wrote a new plan: its thresholds apply from the next decision."""
        if self._plan_stamp is None or self._plan_mtime() == self._plan_stamp:
            return
        self.plan = self._load_plan()
        self.usage.use_plan(self.plan)  # its budget and prices too
        for watched in self.watched.values():
            watched.policy = None
        self.log("plan changed (swarm up): thresholds read again")

    def of(self, name: str) -> Watched:
        """The record of agent `name` (made on first sight)."""
        record = self.watched.get(name)
        if record is None:
            record = self.watched[name] = Watched()
        return record

    def policy(self, agent: Agent) -> Policy:
        watched = self.of(agent.name)
        if watched.policy is not None:
            return watched.policy
        spec = self.plan.agent(agent.name) if self.plan is not None else None
        health = spec.role.health if spec is not None else HealthSpec()
        auto = spec.role.permissions.auto_approve if spec is not None else ()
        restartable = not runtime_for(agent.runtime).builtin_loop
        policy = Policy(health=health, auto_approve=auto, restartable=restartable)
        watched.policy = policy
        return policy

    def _seed_memory(self) -> None:
        """Deaths seen by an earlier witness still count towards the crash-loop window, and
        an agent it gave up on (its stored detail says so) stays given up."""
        for event in self.store.latest_events(SEED_EVENTS):
            if event.kind == "witness.death" and event.agent:
                self.of(event.agent).memory.deaths.append(event.ts)
        for agent in self.store.list_agents():
            if agent.state == "dead" and agent.detail.startswith(CRASH_LOOP):
                self.of(agent.name).memory.failed = agent.detail

    # -- the tick ----------------------------------------------------------------------

    def tick(self) -> TickReport:
        report = TickReport()
        self._acted = False
        self._sampled_this_tick = False
        now = self.clock()
        self._follow_plan()
        scan = self.monitor.scan()
        if not scan.session_found:
            if not self._session_missing_logged:
                self.log(f"session {self.instance.session} not found; waiting for `swarm up`")
                self._session_missing_logged = True
            return report
        self._session_missing_logged = False
        self.effects.remove_duplicates(self.store, scan.panes)
        panes = scan.by_agent()
        agents = self._agents()
        self._sample(agents, panes)
        self._note_output(agents, panes, scan)

        observations = {a.name: self._observe(a, panes.get(a.name), now) for a in agents}
        verdicts = {a.name: decide(observations[a.name], self.policy(a).health) for a in agents}
        wanted = self._screens_to_capture(agents, verdicts, panes, now)
        if wanted:
            self._capture([panes[a.name] for a in wanted], agents, report)
            for agent in wanted:
                observations[agent.name] = self._observe(agent, panes.get(agent.name), now)
                verdicts[agent.name] = decide(observations[agent.name], self.policy(agent).health)
        stalling = [
            a for a in agents if verdicts[a.name].state == "stalled" and a.state != "stalled"
        ]
        if stalling:
            # Before calling anyone stalled: read the whole process table now, so a tool
            # run started since the last scan counts as the activity it is.
            self._sample(agents, panes, rescan=True)
            for agent in stalling:
                observations[agent.name] = self._observe(agent, panes.get(agent.name), now)
                verdicts[agent.name] = decide(observations[agent.name], self.policy(agent).health)

        for agent in agents:
            memory = self.of(agent.name).memory
            if memory.failed and verdicts[agent.name].state == "dead":
                verdicts[agent.name] = replace(verdicts[agent.name], detail=memory.failed)
            report.states[agent.name] = verdicts[agent.name]
            self._record(agent, verdicts[agent.name], report)
        for agent in agents:
            if verdicts[agent.name].state in CALM and self.of(agent.name).memory.calm():
                continue  # nothing to recover, nothing to forget: the common case, kept cheap
            self._recover(agent, verdicts[agent.name], observations[agent.name], now, report)
        self.usage.tick(agents, now)  # usage from transcripts, budgets, limits, history
        for action in self.controller.observe(now, panes.get(CONTROLLER)):
            report.actions.append(f"{CONTROLLER}: {type(action).__name__}")
            self.effects.execute(self.store, action)
        self._borders(agents, panes, report)
        self._locks(agents)
        if self._sampled_this_tick:
            self._write_resources(agents, panes)
        self.effects.notifier.reap()
        return report

    def _agents(self, *, force: bool = False) -> list[Agent]:
        """The agents, read again only when the store changed (SQLite's data_version is a
        free check) or the witness wrote to it itself."""
        version = self.store.data_version()
        if force or version != self._agents_version or self._cached_agents is None:
            self._cached_agents = self.store.list_agents()
            self._agents_version = self.store.data_version()
        return self._cached_agents

    # -- signals -----------------------------------------------------------------------

    def _sample(
        self, agents: list[Agent], panes: dict[str, PaneSignal], *, rescan: bool = False
    ) -> None:
        mono = time.monotonic()
        if mono < self._next_sample and not rescan:
            return
        self._next_sample = mono + self.config.proc_interval
        roots = {
            a.name: p.pid
            for a in agents
            if (p := panes.get(a.name)) is not None and not p.dead and p.pid
        }
        samples = self.procs.sample(roots, rescan=rescan)
        self._sampled_this_tick = True
        now = self.clock()
        for name in {*self.watched, *roots}:
            watched = self.of(name)
            watched.sample, watched.sampled_pid = samples.get(name), roots.get(name)
            cpu = watched.sample.cpu_percent if watched.sample is not None else None
            if cpu is not None and cpu >= CPU_BUSY:
                watched.last_cpu = now

    def _note_output(
        self, agents: list[Agent], panes: dict[str, PaneSignal], scan: PaneScan
    ) -> None:
        """Pane output, minus what merely echoes keys the witness itself typed."""
        for agent in agents:
            pane = panes.get(agent.name)
            if pane is None:
                continue
            printed = scan.output.get(pane.pane_id)
            watched = self.of(agent.name)
            if printed is None or printed <= (watched.real_output or 0.0):
                continue
            poked = self.effects.poked.get(agent.name)
            if poked is not None and poked <= printed <= poked + ECHO_WINDOW:
                continue
            watched.prior_output = watched.real_output or 0.0
            watched.real_output = printed

    def _observe(self, agent: Agent, pane: PaneSignal | None, now: float) -> Observation:
        watched = self.of(agent.name)
        alive: bool | None = None
        if pane is not None and watched.sampled_pid == pane.pid:
            sample = watched.sample
            alive = sample.alive if sample is not None else None
        last_output, shot, screen = watched.real_output, watched.screen, None
        if shot is not None and pane is not None and shot.shows(pane):
            screen = shot.verdict if shot.at >= (last_output or 0.0) else None
        runtime = runtime_for(agent.runtime)
        return Observation(
            now=now,
            name=agent.name,
            role=agent.role,
            runtime=agent.runtime,
            stored=agent.state,
            state_since=agent.state_since,
            detail=agent.detail,
            hook=agent.hook,
            last_report=agent.last_activity,
            pane_present=pane is not None,
            pane_dead=self._dead(watched, pane, now),
            dead_status=pane.dead_status if pane is not None else None,
            dead_signal=pane.dead_signal if pane is not None else None,
            pane_pid=pane.pid if pane is not None else None,
            last_output=last_output,
            proc_alive=alive,
            last_cpu=watched.last_cpu,
            screen=screen,
            looked=shot.at if shot is not None else None,
            reports=runtime.reports,
            builtin=runtime.builtin_loop,
            handover=agent.handover,
            prompt_gone_since=self._prompt_gone(agent, screen),
            tick=self.config.tick,
        )

    def _prompt_gone(self, agent: Agent, screen: ScreenVerdict | None) -> float | None:
        """For a waiting agent: since when the prompt it was seen at is missing from its
        screen. Kept per wait (its `state_since`), so a new question starts over."""
        watched = self.of(agent.name)
        if agent.state != "waiting":
            watched.prompt_watch = None
            return None
        since, seen, gone = watched.prompt_watch or (agent.state_since, None, None)
        if since != agent.state_since:
            seen, gone = None, None
        if screen is not None:
            if screen.kind == "waiting":
                seen, gone = self.clock(), None
            elif seen is not None and gone is None:
                gone = self.clock()
        watched.prompt_watch = (agent.state_since, seen, gone)
        return gone

    @staticmethod
    def _dead(watched: Watched, pane: PaneSignal | None, now: float) -> bool:
        """Dead, once tmux knows how it died (it reaps the process a moment after the pane
        closes); a pane whose exit is still unknown after DEATH_SETTLE is dead anyway."""
        if pane is None or not pane.dead:
            if pane is not None:
                watched.dead_pane = None
            return False
        if pane.dead_status is not None or pane.dead_signal is not None:
            return True
        if watched.dead_pane != pane.pane_id:
            watched.dead_pane, watched.dead_since = pane.pane_id, now
        return now - watched.dead_since >= DEATH_SETTLE

    def _screens_to_capture(
        self,
        agents: list[Agent],
        verdicts: dict[str, Verdict],
        panes: dict[str, PaneSignal],
        now: float,
    ) -> list[Agent]:
        """The panes whose verdict asked for a look. A pane that went quiet, or printed after
        a quiet spell, is looked at now; panes printing tick after tick share a budget of
        STREAMING_CAPTURES per tick, the longest unseen first, so 30 busy agents never cost
        30 captures a tick."""
        urgent: list[Agent] = []
        streaming: list[tuple[float, Agent]] = []
        for agent in agents:
            pane = panes.get(agent.name)
            if not verdicts[agent.name].wants_screen or pane is None or pane.dead:
                continue
            watched = self.of(agent.name)
            shot = watched.screen
            if shot is None or not shot.shows(pane):
                urgent.append(agent)
                continue
            printed, prior = watched.real_output, watched.prior_output
            if (
                printed is not None
                and now - printed < SETTLE
                and printed - prior <= self.config.tick * 1.5
            ):
                streaming.append((shot.at, agent))
            else:
                urgent.append(agent)
        streaming.sort(key=lambda item: item[0])
        return urgent + [agent for _at, agent in streaming[:STREAMING_CAPTURES]]

    def _capture(self, panes: list[PaneSignal], agents: list[Agent], report: TickReport) -> None:
        runtimes = {a.name: a.runtime for a in agents}
        limited = {a.name for a in agents if a.state == "limited"}
        at = self.clock()
        texts = self.monitor.capture([p.pane_id for p in panes])
        for pane in panes:
            text = texts.get(pane.pane_id)
            if text is None:
                continue
            runtime = runtime_for(runtimes.get(pane.agent, ""))
            watched = self.of(pane.agent)
            watched.screen = Screen(runtime.classify(text), at, pane.pane_id, pane.pid)
            report.captured.append(pane.agent)
            # A usage or rate limit on screen that no report told of (a runtime without
            # reports, a retry only its screen shows, a Stop that never came): the one
            # swarm-wide pause takes it, once per limit shown, not once per capture. One
            # shown while the agent is limited already is only noted.
            found = screen_signal(text, runtime.patterns, at)
            seen = found.key if found else None
            if found is not None and seen != watched.limit_seen and pane.agent not in limited:
                limit_agent(self.store, pane.agent, found.signal, at)
                report.actions.append(f"{pane.agent}: {found.signal.reason} (on screen)")
                self.log(f"{pane.agent}: limited, its screen says: {found.line[:160]}")
            watched.limit_seen = seen

    # -- decisions ---------------------------------------------------------------------

    def _record(self, agent: Agent, verdict: Verdict, report: TickReport) -> None:
        """Write a changed state, unless someone else changed it since this tick read it."""
        if verdict.state == agent.state:
            return
        with self.store.transaction():
            fresh = self.store.get_agent(agent.name)
            if (fresh.state, fresh.state_since) != (agent.state, agent.state_since):
                return  # a hook or the controller got there first; judge again next tick
            self.store.set_agent_state(agent.name, verdict.state, verdict.detail)
        report.changed[agent.name] = (agent.state, verdict.state)
        detail = f" ({verdict.detail})" if verdict.detail else ""
        self.log(f"{agent.name}: {agent.state} -> {verdict.state}{detail} [{verdict.source}]")

    def _recover(
        self, agent: Agent, verdict: Verdict, obs: Observation, now: float, report: TickReport
    ) -> None:
        memory = self.of(agent.name).memory
        actions = recover(
            agent.name,
            verdict,
            agent.hook,
            memory,
            self.policy(agent),
            now,
            pane_missing=not obs.pane_present,
            process=obs.pane_pid,
            prompt=obs.screen.command if obs.screen is not None else None,
            screen_seen=obs.screen is not None,
        )
        for action in actions:
            report.actions.append(f"{agent.name}: {type(action).__name__}")
            self.effects.execute(self.store, action)
        if actions:
            self._acted = True

    # -- outputs -----------------------------------------------------------------------

    def _borders(
        self, agents: list[Agent], panes: dict[str, PaneSignal], report: TickReport
    ) -> None:
        """`@swarm_state` / `@swarm_task` on each pane, sent in one batch where they changed."""
        if self._acted or report.changed:  # recovery changed states and hooks: read them back
            agents = self._agents(force=True)
        commands = border_commands(agents, panes)
        if commands:
            report.border_updates = len(commands)
            self.monitor.run(commands)

    def _locks(self, agents: list[Agent]) -> None:
        """Every few seconds: a git lock left in a polecat's worktree by a killed git."""
        mono = time.monotonic()
        if mono < self._next_lock_scan:
            return
        self._next_lock_scan = mono + LOCK_SCAN_EVERY
        for agent in roster.that(self.instance, agents, "worktree"):
            worktree = worktree_of(self.instance, agent.name, agent.worktree)
            removed = clear_stale_index_lock(worktree)
            if removed is not None:
                message = f"removed a stale git lock in {agent.name}'s worktree: {removed}"
                self.store.add_event("witness.unlock", message, agent=agent.name)
                self.log(message)

    def _write_resources(self, agents: list[Agent], panes: dict[str, PaneSignal]) -> None:
        """What changed, in one transaction: a hundred busy agents' figures change on most
        ticks, and a write transaction each would take the store's one write lock a hundred
        times a second from under the agents' own `swarm done` and reports."""
        changed: list[tuple[str, Resources]] = []
        for agent in agents:
            watched = self.of(agent.name)
            value = resources_of(panes.get(agent.name), watched.sample, watched.sampled_pid)
            if worth_writing(watched.resources, value):
                watched.resources = value
                changed.append((agent.name, value))
        if not changed:
            return
        with self.store.transaction():
            for name, (cpu, rss) in changed:
                self.store.set_agent_resources(name, cpu, rss)

    # -- the process -------------------------------------------------------------------

    def run(self, until: Callable[[], bool] | None = None) -> None:
        me = self.store.find_agent(os.environ.get(envnames.AGENT) or "")
        if me is not None:
            count = len(self.store.list_agents())
            self.store.set_agent_state(me.name, "working", f"watching {count} agents")
        self.store.add_event(
            "witness.start", f"witness started (pid {os.getpid()}, tick {self.config.tick:g}s)"
        )
        self.log(
            f"witness for swarm {self.instance.session} (pid {os.getpid()}, "
            f"tick {self.config.tick:g}s, tmux {self.monitor.connect()})"
        )
        watch = StoreWatch.of(self.store.path)
        told = False
        while until is None or not until():
            started = time.monotonic()
            lost = watch.problem() if watch else None
            if lost is not None:  # act on nothing: every decision would be on a dead store
                if not told:
                    self.log(f"STOPPED: {lost}")
                    with contextlib.suppress(SwarmError, OSError):
                        self.effects.notifier.tell("swarm store lost", lost)
                    told = True
                time.sleep(self.config.tick)
                continue
            try:
                self.tick()
            except SwarmError as exc:
                self.log(f"tick failed: {exc.message}")
            except Exception as exc:  # the witness must outlive any one bad tick
                self.log(f"tick failed: {type(exc).__name__}: {exc}")
            time.sleep(max(0.0, self.config.tick - (time.monotonic() - started)))


def run_witness(instance: SwarmInstance, config: WitnessConfig | None = None) -> int:
    """`swarm witness`: the one witness of the swarm, until stopped."""

    def watch() -> None:
        with instance.open_store() as store:
            witness = Witness(instance, store, config=config)
            try:
                witness.run()
            finally:
                witness.close()

    return run_daemon(instance.state_dir, "witness", watch)
