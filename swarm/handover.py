"""The hand-over protocol: how a task reaches an agent's conversation exactly once.

Peers type a task and hope. Here every agent's row in the store says how far the hand-over
of its held task got, and only the signals below move it on:

    none ──hooked──▶ pending ──typing──▶ typing ──typed──▶ sent ──prompted──▶ acked
                        ▲                   │ └─confirmed (no reports)──────────▲
                        └──────not_typed────┘                                   │
                        ▲                                                       │
                        └──lost (typing/sent, no acknowledgement in time)       │
    a new session:  session_restored ─▶ acked   (its start gave it the task)    │
                    session_fresh    ─▶ pending (it must be typed again)        │
    any state ──unhooked──▶ none                                                │
    pending/typing/sent ──prompted (a prompt carrying the task)─────────────────┘

- *hooked*: the store put a task on the agent's hook (a claim, a bounce back to it).
- *typing*: the controller starts typing it; only into an agent its runtime says is ready
  (`idle`: for Claude Code, after the start-up turn's Stop, not at SessionStart).
- *typed* / *confirmed* / *not_typed*: how the typing ended. A runtime that reports its
  prompts (Claude Code's UserPromptSubmit, the sim) is acknowledged by that report, which
  must carry the task; one that does not is acknowledged by its input line emptying.
- *session_restored* / *session_fresh*: a (re)started session reported in. A runtime whose
  start hands the held task back (Claude Code: the SessionStart context, or the resumed
  conversation plus its first message) has it; any other is typed it again. Never both.
- *lost*: typed (or being typed by a controller that died) and never acknowledged.

The protocol itself is pure (this module); the store applies `hooked`/`unhooked` in the same
transaction as the task change, `swarm.reports` applies the runtime's reports, and the
controller (`swarm.controller.dispatch`) the rest.
"""

from __future__ import annotations

from typing import Literal

from swarm.store.models import AgentState, Handover

Signal = Literal[
    "hooked",
    "typing",
    "typed",
    "confirmed",
    "not_typed",
    "prompted",
    "session_restored",
    "session_fresh",
    "lost",
    "unhooked",
]

_IN_FLIGHT: tuple[Handover, ...] = ("pending", "typing", "sent")
_HELD: tuple[Handover, ...] = ("pending", "typing", "sent", "acked")

TRANSITIONS: dict[tuple[Handover, Signal], Handover] = {
    ("none", "hooked"): "pending",
    **{(state, "hooked"): "pending" for state in _HELD},
    ("pending", "typing"): "typing",
    ("typing", "typed"): "sent",
    ("typing", "confirmed"): "acked",
    ("typing", "not_typed"): "pending",
    **{(state, "prompted"): "acked" for state in _IN_FLIGHT},
    **{(state, "session_restored"): "acked" for state in _HELD},
    **{(state, "session_fresh"): "pending" for state in _HELD},
    ("typing", "lost"): "pending",
    ("sent", "lost"): "pending",
    **{(state, "unhooked"): "none" for state in ("none", *_HELD)},
}


def next_state(state: Handover, signal: Signal) -> Handover | None:
    """Where `signal` takes a hand-over in `state`; None when it does not apply there
    (the signal is then ignored: e.g. a prompt report for a task already acknowledged)."""
    return TRANSITIONS.get((state, signal))


def ready_to_type(state: AgentState, handover: Handover) -> bool:
    """Type the held task now? Only a pending one, into an agent ready for input."""
    return handover == "pending" and state == "idle"


def carries_task(prompt: str, task_id: str) -> bool:
    """Does a prompt the runtime reported hand this task over? Task prompts, resume messages
    and the SessionStart context all name the task id."""
    return task_id in prompt


def in_flight(handover: Handover) -> bool:
    """Typed or being typed, not yet acknowledged."""
    return handover in ("typing", "sent")
