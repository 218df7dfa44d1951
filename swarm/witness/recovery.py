"""Recovery policies: what the witness does about an agent's state. Pure and deterministic.

Each function takes the verdict of this tick, the agent's small `Memory` (what the witness
already did about it) and the time, and returns the actions to take; the loop carries them
out. Nothing here touches tmux or the store, so every rule is tested with a fake clock.

- dead: restart in the same pane (same worktree, same branch; the controller hands the
  hook back after SessionStart), after a backoff that doubles with each death in the
  role's `restart_window` (2 s, 4 s, 8 s … 60 s); more than `max_restarts` deaths in the
  window is a crash loop: the agent's task goes back to the queue with a note, the agent
  stays dead, and the mayor is told.
- stalled: nudge at once; no progress `nudge_after` seconds after the nudge: restart;
  stalled again on the same task after that restart: escalate to the mayor (once).
- waiting at a prompt: tell the person once per prompt; answer "yes" only when the layout
  allowed the prompt's command (`permissions.auto_approve` globs), never by default.
- waiting after a turn that ended holding a task (a question for the person, or a forgotten
  `swarm done`): tell the person at once, with the agent's last message; after the role's
  `nudge_after` with no answer, remind the agent once per task (finish and `swarm done`, or
  `swarm done --failed`); the turn that reminder starts ends in a new wait, and the person
  is told again. Never more than that: no loop of nudges.
- a pane that vanished: rebuild it the way `swarm up` does (reconcile).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarm.guard import approved_by
from swarm.plan import HealthSpec
from swarm.reports import is_turn_wait
from swarm.witness.state import Verdict

BACKOFF_BASE = 2.0
BACKOFF_MAX = 60.0
PROMPT_LOOKS = 3  # ticks to wait for a readable prompt before telling the person anyway


@dataclass(frozen=True)
class Restart:
    agent: str
    reason: str


@dataclass(frozen=True)
class Nudge:
    agent: str
    text: str
    reason: str


@dataclass(frozen=True)
class Escalate:
    agent: str
    reason: str
    task: str | None = None


@dataclass(frozen=True)
class GiveUp:
    """A crash loop: the task goes back to the queue, the agent stays dead."""

    agent: str
    task: str | None
    reason: str


@dataclass(frozen=True)
class Notify:
    agent: str
    message: str


@dataclass(frozen=True)
class Approve:
    agent: str
    command: str
    pattern: str


@dataclass(frozen=True)
class Note:
    """Nothing to do yet, but worth an event (a death seen, a restart scheduled)."""

    agent: str
    kind: str
    message: str


@dataclass(frozen=True)
class Reconcile:
    """Panes are missing: rebuild them as `swarm up` would."""

    reason: str


@dataclass(frozen=True)
class RespawnPane:
    """Respawn a pane the controller cannot (its own); `kill` a live one first."""

    pane_id: str
    name: str
    reason: str
    kill: bool = False


Action = Restart | Nudge | Escalate | GiveUp | Notify | Approve | Note | Reconcile | RespawnPane


@dataclass
class Memory:
    """What the witness did about one agent; rebuilt from events when the witness restarts."""

    deaths: list[float] = field(default_factory=list)
    dead_since: float | None = None
    dead_process: int | None = None  # the pane's process that died at `dead_since`
    restart_at: float | None = None
    failed: str | None = None  # why the agent was given up on (a crash loop)
    stall_since: float | None = None
    stall_task: str | None = None
    nudged_at: float | None = None
    stall_restarts: int = 0
    escalated: bool = False
    waiting_since: float | None = None
    waiting_handled: bool = False
    waiting_looks: int = 0
    reminded_task: str | None = None  # the task the agent was reminded of after a turn wait

    def calm(self) -> bool:
        """Nothing in progress: no death, stall or question being handled, none given up."""
        return (
            self.dead_since is None
            and self.failed is None
            and self.stall_since is None
            and self.waiting_since is None
        )


@dataclass(frozen=True)
class Policy:
    """How one agent is treated: its role's thresholds and allowlist."""

    health: HealthSpec
    auto_approve: tuple[str, ...] = ()
    restartable: bool = True  # False for panes the controller keeps alive itself


def backoff(deaths: int) -> float:
    """Seconds to wait before restarting after the n-th death in the window."""
    return float(min(BACKOFF_BASE * 2.0 ** max(0, deaths - 1), BACKOFF_MAX))


def recover(
    name: str,
    verdict: Verdict,
    hook: str | None,
    memory: Memory,
    policy: Policy,
    now: float,
    *,
    pane_missing: bool = False,
    process: int | None = None,
    prompt: str | None = None,
    screen_seen: bool = False,
) -> list[Action]:
    """All actions for one agent this tick (and `memory` updated). `process`: the pane's
    process id, so that a dead pane whose process is not the one that died (the restart
    ran, and died again between two looks) is a new death, not the same one again."""
    if verdict.state not in ("dead", "done"):
        _alive_again(memory)
    if verdict.state != "stalled":
        memory.stall_since = None
    if verdict.state != "waiting":
        memory.waiting_since = None
        memory.waiting_handled = False
        memory.waiting_looks = 0
    if verdict.state == "dead":
        if pane_missing:
            return [Reconcile(f"{name}'s pane is gone")] if policy.restartable else []
        return on_dead(name, verdict, hook, memory, policy, now, process)
    if verdict.state == "stalled":
        return on_stalled(name, verdict, hook, memory, policy, now)
    if verdict.state == "waiting":
        if is_turn_wait(verdict.detail):
            return on_turn_wait(name, verdict, hook, memory, policy, now)
        return on_waiting(name, memory, policy, now, prompt, screen_seen)
    return []


def _alive_again(memory: Memory) -> None:
    memory.dead_since = None
    memory.dead_process = None
    memory.restart_at = None
    if memory.failed is not None:  # a person restarted it: a fresh start
        memory.failed = None
        memory.deaths.clear()


def on_dead(
    name: str,
    verdict: Verdict,
    hook: str | None,
    memory: Memory,
    policy: Policy,
    now: float,
    process: int | None = None,
) -> list[Action]:
    if not policy.restartable or memory.failed is not None:
        return []
    health = policy.health
    actions: list[Action] = []
    restarted = None not in (process, memory.dead_process) and process != memory.dead_process
    if memory.dead_since is not None and restarted:  # it ran and died again between two looks
        _alive_again(memory)
    if memory.dead_since is None:
        memory.dead_since = now
        memory.dead_process = process
        memory.deaths = [t for t in memory.deaths if now - t < health.restart_window]
        memory.deaths.append(now)
        count = len(memory.deaths)
        if count > health.max_restarts:
            memory.failed = (
                f"crash loop: {count} deaths in {health.restart_window:g}s ({verdict.detail})"
            )
            told = f"{name} died {count} times in {health.restart_window:g}s and was given up"
            back = f"; {hook} went back to the queue" if hook else ""
            return [GiveUp(name, hook, memory.failed), Escalate(name, told + back, hook)]
        delay = backoff(count)
        memory.restart_at = now + delay
        actions.append(
            Note(
                name,
                "witness.death",
                f"{name} died ({verdict.detail}): death {count} of {health.max_restarts} allowed "
                f"in {health.restart_window:g}s; restart in {delay:g}s",
            )
        )
    if memory.restart_at is not None and now >= memory.restart_at:
        count = len(memory.deaths)
        # If the restart fails, try again after the same wait, never every tick.
        memory.restart_at = now + backoff(count)
        actions.append(Restart(name, f"died ({verdict.detail}); death {count} in the window"))
    return actions


def on_stalled(
    name: str, verdict: Verdict, hook: str | None, memory: Memory, policy: Policy, now: float
) -> list[Action]:
    health = policy.health
    if memory.stall_task != hook:
        memory.stall_task = hook
        memory.stall_restarts = 0
        memory.escalated = False
    if memory.stall_since is None:
        memory.stall_since = now
        memory.nudged_at = None
    if memory.nudged_at is None:
        memory.nudged_at = now
        return [Nudge(name, nudge_text(name, hook), verdict.detail)]
    if now - memory.nudged_at < health.nudge_after:
        return []
    if memory.stall_restarts == 0 and policy.restartable:
        memory.stall_restarts += 1
        memory.stall_since = None
        return [
            Restart(
                name,
                f"stalled ({verdict.detail}); no progress {health.nudge_after:g}s after a nudge",
            )
        ]
    if not memory.escalated:
        memory.escalated = True
        what = f" on {hook}" if hook else ""
        return [
            Escalate(
                name,
                f"{name} is stalled{what} again after a nudge and a restart ({verdict.detail})",
                hook,
            )
        ]
    return []


def on_waiting(
    name: str,
    memory: Memory,
    policy: Policy,
    now: float,
    prompt: str | None,
    screen_seen: bool,
) -> list[Action]:
    if memory.waiting_since is None:
        memory.waiting_since = now
    if memory.waiting_handled:
        return []
    if prompt is None and not screen_seen and memory.waiting_looks < PROMPT_LOOKS:
        memory.waiting_looks += 1
        return []  # the screen is on its way: the command decides whether to auto-answer
    memory.waiting_handled = True
    pattern = approved_by(prompt, policy.auto_approve)
    if prompt is not None and pattern is not None:
        return [Approve(name, prompt, pattern)]
    what = f" to run `{prompt}`" if prompt else ""
    return [Notify(name, f"{name} is waiting for you: it asks for permission{what}")]


def on_turn_wait(
    name: str, verdict: Verdict, hook: str | None, memory: Memory, policy: Policy, now: float
) -> list[Action]:
    """An agent whose turn ended holding its task: the person first, then one reminder."""
    if memory.waiting_since is None:
        memory.waiting_since = now
    if not memory.waiting_handled:
        memory.waiting_handled = True
        return [Notify(name, f"{name} needs you: {verdict.detail}")]
    due = now - memory.waiting_since >= policy.health.nudge_after
    if hook is not None and due and memory.reminded_task != hook:
        memory.reminded_task = hook
        return [
            Nudge(name, reminder_text(name, hook), f"no answer for {policy.health.nudge_after:g}s")
        ]
    return []


def reminder_text(name: str, hook: str) -> str:
    """One line: what to do when nobody answered after a turn ended holding the task."""
    return (
        f"{name}: your turn ended while task {hook} is on your hook. If it is finished, commit "
        'and run `swarm done`; if it cannot be done, run `swarm done --failed "why"`; if you '
        "asked the person something, say so in one line and wait."
    )


def nudge_text(name: str, hook: str | None) -> str:
    """One line (the mayor sim turns each line it is told into a task)."""
    if hook:
        return (
            f"{name}: the swarm's witness saw no progress from you. Task {hook} is on your hook: "
            "carry on with it; when it is finished, commit and run `swarm done`."
        )
    return (
        f"{name}: the swarm's witness saw no progress from you; carry on, or say what blocks you."
    )


def escalation_text(reason: str) -> str:
    return f"swarm witness needs a decision: {reason}. See `swarm status` and `swarm log`."
