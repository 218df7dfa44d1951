"""One state per agent, decided from signals: pure functions, no tmux, no store, no clock.

Signals are trusted in this order: the runtime's hooks (exact: the agent said so), tmux
(the pane is there, dead or alive), psutil (the process tree lives and uses CPU), and the
screen last (patterns, for runtimes without hooks or hooks that did not fire). Liveness
facts veto everything: a dead pane is a dead agent whatever its last hook said.

"Activity" is any sign of progress: a hook event, pane output, or CPU in the process tree.
A working agent with none of them for its role's `stall_after` is stalled; one that holds a
task but sits idle for `nudge_after` is stalled too. A fresh agent is never judged before
its `startup_grace` is over, and an agent whose tree burns CPU is working, however quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swarm.plan import HealthSpec
from swarm.runtimes.patterns import ScreenVerdict
from swarm.store.models import AgentState

Source = Literal["hook", "tmux", "psutil", "screen", "time"]

# Runtimes that report their state through `swarm hook` (SessionStart, Stop, Notification…).
HOOK_RUNTIMES = frozenset({"sim", "claude"})
# Panes whose own loop is kept alive by the controller; the witness only reports them.
BUILTIN_RUNTIMES = frozenset({"builtin"})
SETTLE = 0.3  # seconds of no output after which a hookless agent's screen is worth a look
CPU_BUSY = 2.0  # percent of a core: above this the process tree is doing something
CPU_RECENT = 2.5  # seconds: a CPU sample this recent still counts as "busy now"


@dataclass(frozen=True)
class Observation:
    """Everything the witness knows about one agent at one tick (wall-clock seconds)."""

    now: float
    name: str
    role: str
    runtime: str
    stored: AgentState  # what the store says (set by hooks, the controller or the witness)
    state_since: float
    detail: str
    hook: str | None  # the task the agent holds
    last_hook: float | None  # the last hook event (the store's last_activity)
    pane_present: bool
    pane_dead: bool = False
    dead_status: int | None = None
    dead_signal: int | None = None
    last_output: float | None = None  # pane output, echoes of our own keys left out
    proc_alive: bool | None = None  # None: not sampled (yet)
    last_cpu: float | None = None  # the last sample whose tree CPU was above CPU_BUSY
    screen: ScreenVerdict | None = None  # only when captured after the last output
    has_hooks: bool = True

    @property
    def last_activity(self) -> float:
        """The latest sign of progress, never earlier than the current state began."""
        times = [self.state_since, self.last_hook, self.last_output, self.last_cpu]
        return max(t for t in times if t is not None)

    @property
    def quiet(self) -> float:
        return max(0.0, self.now - self.last_activity)

    @property
    def age(self) -> float:
        return max(0.0, self.now - self.state_since)


@dataclass(frozen=True)
class Verdict:
    """The state the witness records, why, and which signal settled it."""

    state: AgentState
    detail: str
    source: Source
    wants_screen: bool = False  # a capture of the pane would settle what this verdict guesses


def has_hooks(runtime: str) -> bool:
    """Does this runtime report its state through `swarm hook`?"""
    return runtime in HOOK_RUNTIMES


def decide(obs: Observation, health: HealthSpec) -> Verdict:
    """The one state of one agent now."""
    dead = _liveness(obs)
    if dead is not None:
        return dead
    if obs.runtime in BUILTIN_RUNTIMES:
        if obs.stored in ("dead", "starting", "stopped", "stalled"):
            return Verdict("working", "loop running", "tmux")
        return Verdict(obs.stored, obs.detail, "hook")
    if obs.stored == "dead":
        # Dead in the store but its pane lives: it was restarted (by a person, `swarm up`,
        # or a respawn); it starts again.
        return Verdict("starting", "pane alive again", "tmux")
    if obs.stored in ("starting", "stopped"):
        return _starting(obs, health)
    if obs.stored == "waiting":
        return _waiting(obs)
    if obs.stored == "limited":  # until its reset: swarm.usage ends it (and says continue)
        return Verdict("limited", obs.detail, "hook")
    if obs.stored == "done":
        return Verdict("starting", "pane alive again", "tmux")
    if obs.has_hooks:
        return _hooked(obs, health)
    return _from_screen(obs, health)


def _liveness(obs: Observation) -> Verdict | None:
    """tmux and psutil: a missing or dead pane, or a vanished process, ends every argument."""
    if not obs.pane_present:
        return Verdict("dead", "pane gone", "tmux")
    if obs.pane_dead:
        status = obs.dead_status
        if status == 0 and obs.hook is None:
            return Verdict("done", "exited cleanly (status 0), holding nothing", "tmux")
        if obs.dead_signal:
            return Verdict("dead", f"killed by signal {obs.dead_signal}", "tmux")
        return Verdict("dead", "exited" if status is None else f"exited (status {status})", "tmux")
    if obs.proc_alive is False:
        return Verdict("dead", "its process is gone", "psutil")
    return None


def _starting(obs: Observation, health: HealthSpec) -> Verdict:
    """A fresh agent: left alone for its grace period, then judged by its screen."""
    if obs.age < health.startup_grace:
        return Verdict("starting", obs.detail or "starting", "time")
    screen = obs.screen
    if screen is None:
        if obs.age >= health.startup_grace + health.stall_after:
            return Verdict("stalled", f"never reported in ({obs.age:.0f}s since start)", "time")
        return Verdict("starting", obs.detail or "starting", "time", wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", f"{screen.reason} before it reported in", "screen")
    if screen.kind == "ready":
        why = "no SessionStart hook; " if obs.has_hooks else ""
        return Verdict("idle", f"{why}{screen.reason}", "screen")
    if screen.kind == "busy":
        return Verdict("working", screen.reason, "screen")
    if obs.age >= health.startup_grace + health.stall_after:
        return Verdict("stalled", f"never reported in ({obs.age:.0f}s since start)", "time")
    return Verdict("starting", obs.detail or "starting", "time", wants_screen=True)


def _waiting(obs: Observation) -> Verdict:
    """Waiting lasts until a hook moves it on, or the screen shows the question gone."""
    screen = obs.screen
    if screen is None:
        return Verdict("waiting", obs.detail, "hook", wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", obs.detail or screen.reason, "hook")
    if obs.last_output is not None and obs.last_output > obs.state_since:
        # The question is gone from the screen and the agent printed since: answered.
        if screen.kind == "ready":
            return Verdict("idle", f"prompt answered; {screen.reason}", "screen")
        return Verdict("working", f"prompt answered; {screen.reason}", "screen")
    return Verdict("waiting", obs.detail, "hook")


def _hooked(obs: Observation, health: HealthSpec) -> Verdict:
    """A runtime with hooks: trust them, and time how long the agent has shown no progress."""
    if obs.stored == "idle":
        if obs.hook is not None and obs.quiet >= health.nudge_after:
            return Verdict("stalled", f"idle for {obs.quiet:.0f}s holding {obs.hook}", "time")
        return Verdict("idle", obs.detail, "hook")
    if obs.stored == "stalled":
        if _active_since(obs, obs.state_since):
            source = _activity_source(obs)
            return Verdict("working", f"{source} activity again", source)
        return Verdict("stalled", obs.detail, "time")
    # working
    if obs.quiet < health.stall_after:
        return Verdict("working", obs.detail, "hook")
    # Quiet too long. The screen may show the turn ended without a Stop hook (an interrupt,
    # an API error) or a question asked without a Notification; look before calling it stalled.
    screen = obs.screen
    if screen is None:
        return Verdict("working", obs.detail, "hook", wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", screen.reason, "screen")
    if screen.kind == "ready":
        return Verdict("idle", f"turn over without a Stop hook ({screen.reason})", "screen")
    return Verdict("stalled", _quiet_detail(obs, health), "time")


def _quiet_detail(obs: Observation, health: HealthSpec) -> str:
    return f"no activity for {obs.quiet:.0f}s (stall_after {health.stall_after:g}s)"


def _active_since(obs: Observation, since: float) -> bool:
    return any(t is not None and t > since for t in (obs.last_hook, obs.last_output, obs.last_cpu))


def _from_screen(obs: Observation, health: HealthSpec) -> Verdict:
    """A runtime without hooks: output means working; a settled screen says the rest."""
    if obs.last_output is not None and obs.now - obs.last_output < SETTLE:
        # Printing. What it printed may be a question or its prompt drawn in one go (a
        # reply ended, a person typing into the input line): the screen says which.
        screen = obs.screen
        if screen is not None and screen.kind == "waiting":
            return Verdict("waiting", screen.reason, "screen")
        if screen is not None and screen.kind == "ready":
            return Verdict("idle", screen.reason, "screen")
        detail = obs.detail if obs.stored == "working" else "printing"
        return Verdict("working", detail, "tmux", wants_screen=screen is None)
    cpu_recent = obs.last_cpu is not None and obs.now - obs.last_cpu < CPU_RECENT
    if cpu_recent and obs.stored in ("working", "stalled"):
        detail = obs.detail if obs.stored == "working" else "psutil activity again"
        return Verdict("working", detail, "psutil")
    screen = obs.screen
    if screen is None:
        verdict = _quiet_check(obs, health)
        return Verdict(verdict.state, verdict.detail, verdict.source, wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", screen.reason, "screen")
    if screen.kind == "ready":
        return Verdict("idle", screen.reason, "screen")
    return _quiet_check(obs, health)


def _quiet_check(obs: Observation, health: HealthSpec) -> Verdict:
    if obs.stored == "stalled":
        if _active_since(obs, obs.state_since):
            source = _activity_source(obs)
            return Verdict("working", f"{source} activity again", source)
        return Verdict("stalled", obs.detail, "time")
    if obs.stored == "working" and obs.quiet >= health.stall_after:
        return Verdict("stalled", _quiet_detail(obs, health), "time")
    return Verdict(obs.stored, obs.detail, "time")


def _activity_source(obs: Observation) -> Source:
    latest = obs.last_activity
    if obs.last_cpu is not None and obs.last_cpu >= latest:
        return "psutil"
    if obs.last_output is not None and obs.last_output >= latest:
        return "tmux"
    return "hook"
