"""Dispatch: open tasks to idle polecats (priority, then age), and hooks back to restarted agents.

Claiming is one store transaction, so no task is ever handed to two polecats. The slow
parts (checking out the task's branch, typing the prompt into the pane) run per agent in
worker threads, so ten idle polecats are served at once rather than one after another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from swarm.delivery import Deliverer, DeliveryResult
from swarm.instance import SwarmInstance
from swarm.runtimes.screens import pending_detector
from swarm.store import Store
from swarm.store.models import Agent, Task
from swarm.tmux.client import PaneInfo
from swarm.usage.pauses import dispatch_allowed
from swarm.work import prepare_task, task_prompt

# A held task is typed again into an idle agent at most this often per controller life:
# enough for a restarted agent, never a loop with an agent that keeps stopping.
MAX_REDELIVERIES = 3
# A hand-over whose task has not started (no UserPromptSubmit) after this long is typed
# again: the controller that made it may have died between claiming and typing.
HANDOVER_TIMEOUT = 15.0


@dataclass(frozen=True)
class Handover:
    """One task to put on one agent's screen."""

    agent: str
    runtime: str
    pane_id: str
    task: Task
    redelivery: bool


@dataclass
class Dispatcher:
    instance: SwarmInstance
    store: Store
    redelivered: dict[tuple[str, str], int] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    def plan_handovers(
        self, panes: dict[str, PaneInfo], busy: set[str] | None = None
    ) -> list[Handover]:
        """Claim tasks for idle polecats; mark them working so no other tick takes them.

        `busy` names agents whose hand-over is still in flight in this process.
        """
        handovers: list[Handover] = []
        for agent in self.store.list_agents(role="polecat"):
            pane = panes.get(agent.name)
            if pane is None or pane.dead or agent.name in (busy or ()):
                continue
            if agent.state != "idle" and not self._handover_lost(agent):
                continue
            handover = self._handover_for(agent, pane)
            if handover is None:
                continue
            self.store.set_agent_state(
                agent.name, "working", f"task {handover.task.id} handed over"
            )
            handovers.append(handover)
        return handovers

    def _handover_lost(self, agent: Agent) -> bool:
        """Handed over (by us or a controller that died) but never started."""
        if agent.state != "working" or not agent.hook:
            return False
        if self.store.get_task(agent.hook).status != "hooked":
            return False
        since = max(agent.state_since, self.started_at)
        return time.time() - since > HANDOVER_TIMEOUT or agent.state_since < self.started_at

    def _handover_for(self, agent: Agent, pane: PaneInfo) -> Handover | None:
        if agent.hook:
            key = (agent.name, agent.hook)
            if self.redelivered.get(key, 0) >= MAX_REDELIVERIES:
                return None
            self.redelivered[key] = self.redelivered.get(key, 0) + 1
            held = self.store.get_task(agent.hook)
            return Handover(agent.name, agent.runtime, pane.pane_id, held, redelivery=True)
        if dispatch_allowed(self.store, time.time(), agent) is not None:
            return None  # a daily budget spent, or this agent's account at its usage limit
        claimed = self.store.claim_next_task(agent.name)
        if claimed is None:
            return None
        return Handover(agent.name, agent.runtime, pane.pane_id, claimed, redelivery=False)

    def record(self, handover: Handover, outcome: DeliveryResult | Exception) -> None:
        """The loop thread writes what a worker thread did."""
        task_id = handover.task.id
        if isinstance(outcome, Exception):
            message = getattr(outcome, "message", str(outcome))
            self.store.release_task(task_id, f"hand-over to {handover.agent} failed: {message}")
            self.store.set_agent_state(handover.agent, "idle", f"hand-over failed: {message}")
            return
        verb = "re-delivered to" if handover.redelivery else "delivered to"
        note = "" if outcome.confirmed else " (not confirmed)"
        self.store.add_event(
            "task.delivered",
            f"{task_id} {verb} {handover.agent}{note}",
            agent=handover.agent,
            task=task_id,
            data={"enters": outcome.enters, "bytes": outcome.size, "confirmed": outcome.confirmed},
        )


def hand_over(instance: SwarmInstance, deliverer: Deliverer, handover: Handover) -> DeliveryResult:
    """In a worker thread: branch checked out, then the prompt typed and submitted."""
    prepare_task(instance, handover.agent, handover.task)
    pending: Callable[[str], bool] | None = pending_detector(handover.runtime)
    return deliverer.deliver(
        handover.pane_id, task_prompt(handover.agent, handover.task), pending=pending
    )
