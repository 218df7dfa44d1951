"""Which conversation a (re)started agent continues, and what its first message says.

A crashed or killed agent that is started fresh forgets everything it had read and tried.
A runtime that can reopen a conversation (Claude Code: `--resume <session id>`, the id its
reports carried) is restarted into its own, so it keeps what it knew; the task it holds is
then handed back once, by the first message, never again by typing (`swarm.handover`).

A resume can fail (the conversation file is gone or unreadable). The attempt is an event
(`agent.resume`) written before the runtime starts, and the resumed session's SessionStart
writes `agent.resumed`; a start that finds the last resume of the same session never
reported in starts a fresh session instead, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from swarm import envnames
from swarm.errors import SwarmError
from swarm.store import Store
from swarm.store.models import Agent
from swarm.work import task_prompt


@dataclass(frozen=True)
class SessionPlan:
    """How to start an agent's runtime this time."""

    resume: str | None  # the session id to reopen; None: a fresh session
    message: str | None  # the first message, when the plan's own would not do
    note: str  # what happened, for the event log


def first_message(store: Store, agent: Agent) -> str:
    """What a resumed session is told: its task once more only if it never had it."""
    if agent.hook is None:
        return (
            f"{agent.name}: you were restarted (your process ended). Nothing is on your hook; "
            "say you are ready and wait for a task."
        )
    task = store.get_task(agent.hook)
    if agent.handover != "acked":
        return task_prompt(agent.name, task)
    return (
        f"{agent.name}: you were restarted (your process ended) while working on task "
        f"{task.id} ({task.title}). Continue where you left off: finish it, commit, then run "
        '`swarm done` (or `swarm done --failed "why"` if it cannot be done).'
    )


def plan_session(store: Store, agent: Agent, state_dir: Path) -> SessionPlan:
    """Resume the agent's last conversation when it exists and its last resume worked."""
    session, transcript = agent.session_id, agent.transcript_path
    if not session or not transcript or not Path(transcript).is_file():
        return SessionPlan(None, None, "fresh session")
    if _resume_never_reported(store, agent.name, session):
        return SessionPlan(None, None, f"resuming session {session} failed; fresh session")
    return SessionPlan(session, first_message(store, agent), f"resuming session {session}")


def _resume_never_reported(store: Store, name: str, session: str) -> bool:
    """Did the last resume of `session` start and never report in? (The attempt and its
    success are events, so a confined agent, which may write only the store, keeps them.)"""
    for event in reversed(store.events(agent=name)):
        if event.kind == "agent.resumed":
            return False
        if event.kind == "agent.resume":
            return event.data.get("session") == session
    return False


def plan_from_environment(env: Mapping[str, str]) -> SessionPlan | None:
    """In an agent's pane: the plan for the agent named by its environment, recorded as an
    event. None when the pane is not a swarm agent's (or the store cannot be read: then the
    runtime starts as the layout says, fresh)."""
    name, home = env.get(envnames.AGENT), env.get(envnames.HOME)
    if not name or not home:
        return None
    try:
        from swarm.instance import SwarmInstance

        instance = SwarmInstance.load(Path(home))
        with instance.open_store() as store:
            agent = store.find_agent(name)
            if agent is None:
                return None
            plan = plan_session(store, agent, instance.state_dir)
            if plan.resume is not None or "failed" in plan.note:
                kind = "agent.resume" if plan.resume else "agent.resume_failed"
                store.add_event(
                    kind,
                    f"{name}: {plan.note}",
                    agent=name,
                    task=agent.hook,
                    data={"session": plan.resume},
                )
            return plan
    except (SwarmError, OSError):
        return None
