"""Dispatch: open tasks to ready agents (priority, then age), typed once (`swarm.handover`).

Claiming is one store transaction, so no task is ever handed to two agents. A task is typed
only into an agent whose runtime says it is ready (`idle`), only while its hand-over is
`pending`, and the hand-over is acknowledged by the runtime's own prompt report: a task is
never typed again into a session that has it, whatever the agent does after (ask a
question, forget `swarm done`, get restarted into a session whose start gave it back).

The slow parts (checking out the task's branch, typing the prompt) run per agent in worker
threads, so ten ready agents are served at once rather than one after another. A burst (300
tasks onto 100 idle agents, two cores) is what shapes them:

- the claim pass costs store writes only while there is an open task to claim (one count
  per pass, not a claim attempt per idle agent);
- the git work runs at most `PREPARE_SLOTS` (the cores) at a time, so the first hand-overs
  finish first instead of all finishing late;
- a thread waits for its text's acknowledgement on `Acks`, which the loop fills from the one
  agent list it reads per pass: no store connection per hand-over, no query per poll; it
  gives up waiting soon (`CONFIRM_WAIT`): a report that comes later still acknowledges it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from swarm import handover, roster
from swarm.actions import type_text
from swarm.delivery import Confirm, Deliverer, DeliveryResult
from swarm.instance import SwarmInstance
from swarm.plan import RoleSpec
from swarm.runtimes.registry import runtime_for
from swarm.store import Store
from swarm.store.models import Agent, Task
from swarm.tmux.client import PaneInfo
from swarm.usage.pauses import dispatch_allowed
from swarm.work import prepare_task, task_prompt

# Typed and never acknowledged this long after the typing ended, while the agent sits
# ready: the text was lost (or taken as something else); it is typed again.
ACK_TIMEOUT = 30.0
# A hand-over marked `typing` by a controller that is not typing it now (it died mid-way)
# is taken up again after this long.
TYPING_GRACE = 20.0
# Hand-overs of one task to one agent in one controller's life: past this, the task goes
# back to the queue and the agent is left for a person to look at.
MAX_ATTEMPTS = 3
# An agent that did not take a task MAX_ATTEMPTS times is handed nothing for this long (the
# task goes to another agent meanwhile; the store claims the best open task for whoever
# asks, so the same agent would get the same task back at once, forever).
REST_AFTER_GIVE_BACK = 60.0
# How long a typing thread waits, after Enter, for the prompt report beyond the Deliverer's
# own confirmation window: a report slower than that still acknowledges the hand-over
# (`sent` -> `acked`); the thread is not held for it.
CONFIRM_WAIT = 0.0
# Hand-overs whose git work (the task's branch) runs at once: the cores, not the burst.
PREPARE_SLOTS = threading.BoundedSemaphore(max(2, os.cpu_count() or 2))


def lost(handover_state: str, agent_state: str, since: float) -> bool:
    """Is a hand-over lost? `since`: seconds since its state last changed. A `typing` one
    was marked by a controller that is not typing it now (this controller skips what it
    types itself), so its mark is its last sign of life; a `sent` one changed state when
    its typing ended, so a slow hand-over (a long paste, a loaded machine) has its whole
    ACK_TIMEOUT after the text was typed, and a text queued behind a running turn (the
    agent busy) is never lost."""
    if handover_state == "typing":
        return since > TYPING_GRACE
    return handover_state == "sent" and agent_state == "idle" and since > ACK_TIMEOUT


class Acks:
    """The hand-overs the store says were acknowledged, as (agent, task) pairs: written by
    the loop's thread from the agent list of each pass, read by the typing threads."""

    def __init__(self) -> None:
        self._acked: frozenset[tuple[str, str]] = frozenset()

    def update(self, agents: Iterable[Agent]) -> None:
        self._acked = frozenset(
            (a.name, a.hook) for a in agents if a.hook is not None and a.handover == "acked"
        )

    def confirm(self, agent: str, task: str) -> Confirm:
        return lambda: (agent, task) in self._acked


@dataclass(frozen=True)
class Handover:
    """One task to put on one agent's screen."""

    agent: str
    runtime: str
    pane_id: str
    task: Task
    attempt: int

    @property
    def redelivery(self) -> bool:
        return self.attempt > 1


@dataclass
class Dispatcher:
    instance: SwarmInstance
    store: Store
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    # The swarm's roles by name; None: the running plan's (swarm.roster).
    roles: Callable[[], Mapping[str, RoleSpec]] | None = None
    acks: Acks = field(default_factory=Acks)
    resting: dict[str, float] = field(default_factory=dict)  # agent -> handed nothing until
    _open: int | None = field(default=None, init=False)  # open tasks left in this pass

    def plan_handovers(
        self, panes: dict[str, PaneInfo], busy: set[str] | None = None
    ) -> list[Handover]:
        """Claim tasks for ready agents and mark each hand-over `typing`, so no other tick
        (or controller) types it too. `busy` names agents this process is typing into."""
        handovers: list[Handover] = []
        agents = self.store.list_agents()
        self.acks.update(agents)
        roles = self.roles() if self.roles is not None else roster.roles(self.instance)
        self._open = None  # counted once, when an idle agent first asks for a task
        for agent in agents:
            pane = panes.get(agent.name)
            if pane is None or pane.dead or agent.name in (busy or ()):
                continue
            if runtime_for(agent.runtime).builtin_loop:
                continue
            spec = roles.get(agent.role)
            takes_tasks = spec is not None and spec.capabilities.takes_tasks
            planned = self._plan_one(agent, pane, takes_tasks)
            if planned is not None:
                handovers.append(planned)
        return handovers

    def _plan_one(self, agent: Agent, pane: PaneInfo, takes_tasks: bool) -> Handover | None:
        if handover.in_flight(agent.handover):
            if not self._lost(agent):
                return None
            was = agent.handover
            agent = self._signal(agent, "lost")
            if was == "typing" and agent.state == "working":
                # Marked working by the controller that died typing, never by a turn (no
                # prompt report came): the agent is ready again, and is typed the task.
                agent = self.store.set_agent_state(
                    agent.name, "idle", f"hand-over of {agent.hook} lost; typing it again"
                )
            self.store.add_event(
                "handover.lost",
                f"{agent.hook} was typed into {agent.name} but never acknowledged; "
                "it will be typed again",
                agent=agent.name,
                task=agent.hook,
            )
        if agent.hook is None:
            if not takes_tasks or agent.state != "idle":
                return None
            if self._open is None:
                self._open = self.store.task_counts()["open"]
            if self._open <= 0:
                return None  # nothing to claim: no write transaction per idle agent
            if self.resting.get(agent.name, 0.0) > time.time():
                return None  # it did not take its last task: others first
            if dispatch_allowed(self.store, time.time(), agent) is not None:
                return None  # a daily budget spent, or this agent's account at its usage limit
            if self.store.claim_next_task(agent.name) is None:
                self._open = 0
                return None
            self._open -= 1
            agent = self.store.get_agent(agent.name)
        if not handover.ready_to_type(agent.state, agent.handover) or agent.hook is None:
            return None
        key = (agent.name, agent.hook)
        attempt = self.attempts.get(key, 0) + 1
        if attempt > MAX_ATTEMPTS:
            self._give_back(agent)
            self.attempts.pop(key)
            self.resting[agent.name] = time.time() + REST_AFTER_GIVE_BACK
            return None
        with self.store.transaction():
            fresh = self.store.get_agent(agent.name)
            if fresh.hook != agent.hook or not handover.ready_to_type(fresh.state, fresh.handover):
                return None
            self._signal(fresh, "typing")
            self.store.set_agent_state(agent.name, "working", f"task {agent.hook} handed over")
        self.attempts[key] = attempt
        task = self.store.get_task(agent.hook)
        return Handover(agent.name, agent.runtime, pane.pane_id, task, attempt)

    def _lost(self, agent: Agent) -> bool:
        return lost(agent.handover, agent.state, time.time() - (agent.handover_at or 0.0))

    def _signal(self, agent: Agent, signal: handover.Signal) -> Agent:
        after = handover.next_state(agent.handover, signal)
        if after is None:
            return agent
        return self.store.set_handover(agent.name, after)

    def _give_back(self, agent: Agent) -> None:
        assert agent.hook is not None
        why = f"{agent.name} did not take it after {MAX_ATTEMPTS} hand-overs"
        self.store.release_task(agent.hook, why)
        self.store.set_agent_state(agent.name, "idle", f"did not take {agent.hook}; see its pane")
        self.store.add_event("handover.failed", f"{agent.hook}: {why}", agent=agent.name)

    def record(self, handed: Handover, outcome: DeliveryResult | Exception) -> None:
        """The loop thread writes what a worker thread did."""
        task_id = handed.task.id
        agent = self.store.find_agent(handed.agent)
        if agent is None or agent.hook != task_id:
            return  # released or finished meanwhile: nothing to record against
        if isinstance(outcome, Exception):
            message = getattr(outcome, "message", str(outcome))
            self._signal(agent, "not_typed")
            self.store.release_task(task_id, f"hand-over to {handed.agent} failed: {message}")
            self.store.set_agent_state(handed.agent, "idle", f"hand-over failed: {message}")
            return
        runtime = runtime_for(handed.runtime)
        if runtime.reports:
            # Its prompt report acknowledges it (maybe already did); until then it is `sent`.
            self._signal(agent, "typed")
        else:
            self._signal(agent, "confirmed" if outcome.confirmed else "not_typed")
            if not outcome.confirmed:
                self.store.set_agent_state(handed.agent, "idle", f"{task_id} not taken yet")
        verb = "re-delivered to" if handed.redelivery else "delivered to"
        note = f" ({outcome.how})" if outcome.confirmed else " (not acknowledged yet)"
        self.store.add_event(
            "task.delivered",
            f"{task_id} {verb} {handed.agent}{note}",
            agent=handed.agent,
            task=task_id,
            data={
                "enters": outcome.enters,
                "bytes": outcome.size,
                "confirmed": outcome.confirmed,
                "how": outcome.how,
                "attempt": handed.attempt,
            },
        )


def hand_over(
    instance: SwarmInstance, deliverer: Deliverer, handed: Handover, acks: Acks
) -> DeliveryResult:
    """In a worker thread: branch checked out, then the prompt typed and acknowledged."""
    with PREPARE_SLOTS:
        prepare_task(instance, handed.agent, handed.task)
    return type_text(
        deliverer,
        handed.pane_id,
        runtime_for(handed.runtime),
        task_prompt(handed.agent, handed.task),
        acks.confirm(handed.agent, handed.task.id),
    )
