"""One state per agent, decided from signals: pure functions, no tmux, no store, no clock.

Signals are trusted in this order: the runtime's reports (exact: the agent said so), tmux
(the pane is there, dead or alive), psutil (the process tree lives and uses CPU), and the
screen last (patterns, for runtimes without hooks or hooks that did not fire). Liveness
facts veto everything: a dead pane is a dead agent whatever its last hook said.

"Activity" is any sign of progress: a report, pane output, or CPU in the process tree.
A working agent with none of them for its role's `stall_after` is stalled; one that holds a
task but sits idle for `nudge_after` is stalled too. A fresh agent is never judged before
its `startup_grace` is over, and an agent whose tree burns CPU is working, however quiet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swarm.git.setup import SETUP_FAILED
from swarm.plan import HealthSpec
from swarm.reports import TURN_WAIT, is_turn_wait
from swarm.runtimes.patterns import ScreenVerdict
from swarm.store.models import AgentState, Handover

Source = Literal["report", "tmux", "psutil", "screen", "time"]

SETTLE = 0.3  # seconds of no output after which a hookless agent's screen is worth a look
CPU_BUSY = 2.0  # percent of a core: above this the process tree is doing something
CPU_RECENT = 2.5  # seconds: a CPU sample this recent still counts as "busy now"
REPORTS_LAG = 5.0  # seconds a working agent may go without a report before a look


@dataclass(frozen=True)
class Observation:
    """Everything the witness knows about one agent at one tick (wall-clock seconds)."""

    now: float
    name: str
    role: str
    runtime: str
    stored: AgentState  # what the store says (set by reports, the controller or the witness)
    state_since: float
    detail: str
    hook: str | None  # the task the agent holds
    last_report: float | None  # the runtime's last report (the store's last_activity)
    pane_present: bool
    pane_dead: bool = False
    dead_status: int | None = None
    dead_signal: int | None = None
    pane_pid: int | None = None  # the pane's process (a respawn starts another)
    last_output: float | None = None  # pane output, echoes of our own keys left out
    proc_alive: bool | None = None  # None: not sampled (yet)
    last_cpu: float | None = None  # the last sample whose tree CPU was above CPU_BUSY
    screen: ScreenVerdict | None = None  # only when captured after the last output
    looked: float | None = None  # when its pane was last captured, whatever it showed
    reports: bool = True  # the runtime reports its state (`swarm report`)
    builtin: bool = False  # a swarm loop the controller keeps alive; only reported on
    handover: Handover = "none"  # how far the hand-over of the held task got
    # When a prompt seen on screen during this wait was first missing from a capture;
    # None while it is on screen (or was never seen).
    prompt_gone_since: float | None = None
    tick: float = 0.5  # the witness's tick: a prompt gone this long was answered

    @property
    def last_activity(self) -> float:
        """The latest sign of progress, never earlier than the current state began."""
        times = [self.state_since, self.last_report, self.last_output, self.last_cpu]
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


def decide(obs: Observation, health: HealthSpec) -> Verdict:
    """The one state of one agent now."""
    dead = _liveness(obs)
    if dead is not None:
        return dead
    if obs.builtin:
        if obs.stored in ("dead", "starting", "stopped", "stalled"):
            return Verdict("working", "loop running", "tmux")
        return Verdict(obs.stored, obs.detail, "report")
    if obs.stored == "dead":
        if obs.detail.startswith(SETUP_FAILED):
            # Its pane stays to show why; a restart (with backoff) tries the set-up again.
            return Verdict("dead", obs.detail, "report")
        # Dead in the store but its pane lives: it was restarted (by a person, `swarm up`,
        # or a respawn); it starts again.
        return Verdict("starting", "pane alive again", "tmux")
    if obs.stored in ("starting", "stopped"):
        return _starting(obs, health)
    if obs.stored == "waiting":
        return _waiting(obs)
    if obs.stored == "limited":  # until its reset: swarm.usage ends it (and says continue)
        # A look now and then: the limit its screen shows is then known, and the same line
        # still on screen after the reset is not taken for a new limit.
        return Verdict("limited", obs.detail, "report", wants_screen=_look_again(obs))
    if obs.stored == "done":
        return Verdict("starting", "pane alive again", "tmux")
    if obs.reports:
        return _reported(obs, health)
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
    never = obs.age >= health.startup_grace + health.stall_after
    if screen.kind == "waiting":
        return Verdict("waiting", f"{screen.reason} before it reported in", "screen")
    if screen.kind == "ready":
        why = "no SessionStart report; " if obs.reports else ""
        return Verdict("idle", f"{why}{screen.reason}", "screen")
    if screen.kind == "busy":
        return Verdict("working", screen.reason, "screen")
    if never:
        said = f": {screen.last_line}" if screen.last_line else ""
        return Verdict("stalled", f"never came up ({obs.age:.0f}s since start){said}", "screen")
    return Verdict("starting", obs.detail or "starting", "time", wants_screen=True)


def _waiting(obs: Observation) -> Verdict:
    """Waiting lasts until a report moves it on. A prompt on screen may also end it by
    leaving the screen: not at the first capture without it (a menu being drawn, a capture
    taken mid-draw), only once it was seen and then stayed gone for a full tick. A turn that
    ended holding a task waits for a person's message: only a new turn ends that."""
    if is_turn_wait(obs.detail):
        return Verdict("waiting", obs.detail, "report")
    screen = obs.screen
    if screen is None:
        return Verdict("waiting", obs.detail, "report", wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", obs.detail or screen.reason, "report")
    gone = obs.prompt_gone_since
    if gone is None or obs.now - gone < obs.tick:
        return Verdict("waiting", obs.detail, "report", wants_screen=True)
    if screen.kind == "ready":
        return Verdict("idle", f"prompt answered; {screen.reason}", "screen")
    return Verdict("working", f"prompt answered; {screen.reason}", "screen")


def _reported(obs: Observation, health: HealthSpec) -> Verdict:
    """A runtime that reports: trust it, and time how long the agent has shown no progress."""
    if obs.stored == "idle":
        if obs.hook is not None and obs.quiet >= health.nudge_after:
            return Verdict("stalled", f"idle for {obs.quiet:.0f}s holding {obs.hook}", "time")
        return Verdict("idle", obs.detail, "report")
    if obs.stored == "stalled":
        if _active_since(obs, obs.state_since):
            source = _activity_source(obs)
            return Verdict("working", f"{source} activity again", source)
        return Verdict("stalled", obs.detail, "time")
    # working
    if obs.quiet < health.stall_after:
        return Verdict("working", obs.detail, "report", wants_screen=_reports_lag(obs))
    # Quiet too long. The screen may show the turn ended without a Stop report (an
    # interrupt, an API error) or a question asked without a report; look before calling it
    # stalled.
    screen = obs.screen
    if screen is None:
        return Verdict("working", obs.detail, "report", wants_screen=True)
    if screen.kind == "waiting":
        return Verdict("waiting", screen.reason, "screen")
    if screen.kind == "ready":
        why = f"turn over without a Stop report ({screen.reason})"
        if obs.hook is not None and obs.handover == "acked":
            return Verdict("waiting", f"{TURN_WAIT} {obs.hook}: {why}", "screen")
        return Verdict("idle", why, "screen")
    return Verdict("stalled", _quiet_detail(obs, health), "time")


def _reports_lag(obs: Observation) -> bool:
    """Working, and no report for REPORTS_LAG: worth a look every REPORTS_LAG. A runtime
    retrying the API by itself (a 429's retry-after) shows it only on screen, redrawing a
    countdown in place (no new output tmux would count); a long answer being written costs
    one capture per REPORTS_LAG."""
    reported = obs.last_report if obs.last_report is not None else obs.state_since
    return obs.now - reported >= REPORTS_LAG and _look_again(obs)


def _look_again(obs: Observation) -> bool:
    return obs.looked is None or obs.now - obs.looked >= REPORTS_LAG


def _quiet_detail(obs: Observation, health: HealthSpec) -> str:
    return f"no activity for {obs.quiet:.0f}s (stall_after {health.stall_after:g}s)"


def _active_since(obs: Observation, since: float) -> bool:
    return any(
        t is not None and t > since for t in (obs.last_report, obs.last_output, obs.last_cpu)
    )


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
    return "report"
