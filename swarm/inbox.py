"""What needs a person: escalations and agents waiting for an answer.

An escalation (the refinery gave a task up, the witness could not save an agent) is not
work for a polecat: it is a decision for the person. It stays in the inbox until the person
marks it done (`swarm inbox done N`), or until what it was about is settled (its failed task
was retried, cancelled or merged). Agents waiting at a permission prompt are listed too.
Everything is derived from the store's events and states, so nothing new is stored but the
"done" mark (an `inbox.done` event).

`from_the_swarm` lets an agent runtime (the sim mayor) tell a message the swarm typed
(escalation, nudge) from one a person typed: only a person's words become tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swarm.store import Store
    from swarm.store.models import Agent, Event

ESCALATION = "escalation"
DONE = "inbox.done"
# Task states in which an escalation about the task is settled.
SETTLED_TASKS = ("open", "hooked", "working", "done", "merged", "cancelled")
# How the swarm's own messages to an agent begin (refinery and witness), see
# refinery/bounce.py and witness/recovery.py.
_SWARM_OPENINGS = ("refinery:", "swarm witness", "swarm:")
_SWARM_PHRASES = ("the swarm's witness saw no progress",)


def from_the_swarm(text: str) -> bool:
    """Whether a message typed into an agent came from the swarm, not from a person."""
    first = text.strip().lower()
    return first.startswith(_SWARM_OPENINGS) or any(p in first for p in _SWARM_PHRASES)


@dataclass(frozen=True)
class InboxItem:
    key: str  # what `swarm inbox done` takes: the escalation's number, or the agent's name
    kind: str  # "escalation" or "waiting"
    text: str  # one line
    ts: float
    agent: str | None = None
    task: str | None = None


def open_escalations(events: Iterable[Event], task_status: Mapping[str, str]) -> list[InboxItem]:
    """Escalation events not marked done and not settled by their task (pure)."""
    items: dict[int, InboxItem] = {}
    for event in events:
        if event.kind == ESCALATION:
            items[event.id] = InboxItem(
                str(event.id), "escalation", event.message, event.ts, event.agent, event.task
            )
        elif event.kind == DONE:
            target = event.data.get("event")
            if isinstance(target, int):
                items.pop(target, None)
    return [
        item
        for item in items.values()
        if item.task is None or task_status.get(item.task) not in SETTLED_TASKS
    ]


def waiting_agents(agents: Iterable[Agent]) -> list[InboxItem]:
    return [
        InboxItem(
            a.name,
            "waiting",
            f"{a.name} waits for an answer: {a.detail or 'a permission prompt'} "
            f"(swarm approve {a.name} | swarm refuse {a.name})",
            a.state_since or 0.0,
            a.name,
            a.hook,
        )
        for a in agents
        if a.state == "waiting"
    ]


def inbox(store: Store) -> list[InboxItem]:
    """Everything that needs the person now, oldest first."""
    escalations = [e for e in store.events() if e.kind in (ESCALATION, DONE)]
    status = {t.id: t.status for t in store.list_tasks()}
    items = open_escalations(escalations, status) + waiting_agents(store.list_agents())
    return sorted(items, key=lambda i: i.ts)


def mark_done(store: Store, key: str) -> InboxItem:
    """The person dealt with an escalation: it leaves the inbox (recorded as an event)."""
    from swarm.errors import NotFoundError

    for item in inbox(store):
        if item.key == key.lstrip("#") and item.kind == "escalation":
            store.add_event(
                DONE,
                f"escalation {item.key} dealt with",
                agent=item.agent,
                task=item.task,
                data={"event": int(item.key)},
            )
            return item
    raise NotFoundError(f"no open escalation {key} (see `swarm inbox`)")
