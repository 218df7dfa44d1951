"""Which task an agent held at a given moment, from the event log: usage goes to the task
that was being worked on when the tokens were spent, not the one held when they were read.

The witness reads a transcript a moment after it was written; by then `swarm done` may have
freed the agent, or a new task been handed over. Every assistant entry carries its time, so
the meter asks `task_at(agent, when)`. The turn that finishes a task goes on for a moment
after `swarm done` (the agent's closing message): usage up to `AFTER_END` seconds after a
task ended, with no other task taken since, still belongs to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from swarm.store.models import Agent, Event

AFTER_END = 120.0
KEEP = 86400.0  # holds that ended longer ago than this are forgotten
STARTS = ("task.hooked", "task.bounced")
ENDS = ("task.done", "task.failed", "task.cancelled", "task.released")


@dataclass
class Hold:
    task: str
    start: float
    end: float | None = None


@dataclass
class Holds:
    """Per agent, the tasks it held and when, oldest first."""

    by_agent: dict[str, list[Hold]] = field(default_factory=dict)
    last_event: int = 0

    def seed(self, agents: Iterable[Agent], events: Iterable[Event]) -> None:
        """Recent history, then what the agents hold now if that began before it."""
        self.follow(events)
        for agent in agents:
            holds = self.by_agent.setdefault(agent.name, [])
            if agent.hook and not any(h.task == agent.hook and h.end is None for h in holds):
                holds.insert(0, Hold(agent.hook, float("-inf")))

    def follow(self, events: Iterable[Event]) -> None:
        for event in events:
            self.last_event = max(self.last_event, event.id)
            if not event.agent or not event.task:
                continue
            holds = self.by_agent.setdefault(event.agent, [])
            if event.kind in STARTS:
                for hold in holds:
                    if hold.end is None:
                        hold.end = event.ts
                holds.append(Hold(event.task, event.ts))
            elif event.kind in ENDS:
                for hold in holds:
                    if hold.task == event.task and hold.end is None:
                        hold.end = event.ts
            horizon = event.ts - KEEP
            self.by_agent[event.agent] = [h for h in holds if h.end is None or h.end >= horizon]

    def knows(self, agent: str, task: str) -> bool:
        """Has the log shown `agent` taking `task` (so `task_at` is the last word on it)?"""
        return any(hold.task == task for hold in self.by_agent.get(agent, ()))

    def task_at(self, agent: str, when: float) -> str:
        """The task `agent` was working on at `when` ('' for none)."""
        for hold in reversed(self.by_agent.get(agent, ())):
            if hold.start > when:
                continue
            if hold.end is None or when <= hold.end + AFTER_END:
                return hold.task
            return ""
        return ""
