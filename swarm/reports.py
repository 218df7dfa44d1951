"""Agent state from the runtime's reports: the exact signal, before any screen guessing.

A runtime that reports (Claude Code through its hooks, the sim directly) runs
`swarm report <Event>` with a JSON object on stdin: SessionStart, UserPromptSubmit,
PermissionRequest, PostToolUse, Stop, SessionEnd and friends. ("Hook" in this code means
only the task an agent holds; Claude Code's hooks are how it sends us these reports.)

Each report moves the agent's state and the hand-over of its task (`swarm.handover`) in
one transaction. Two rules matter most:

- a session that starts is not ready for a task until its runtime says so: a runtime that
  runs a start-up turn (Claude Code's first message) is `starting` until that turn's Stop;
- a turn that ends while the agent holds a task it was given is not "idle": the agent asked
  the person something, or forgot `swarm done`. It is `waiting`, with its last message as
  the reason, and its task is never typed to it again.

SessionStart also prints the agent's role and held task, which Claude Code adds to the
agent's context, so a restarted or compacted agent knows at once what it holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from swarm import handover
from swarm.runtimes.registry import runtime_for
from swarm.store import Store
from swarm.store.models import Agent

REPORT_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Notification",
    "PermissionRequest",
    "PermissionDenied",
    "Stop",
    "StopFailure",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)

# How a waiting agent's detail starts says what it waits for: a prompt on its screen (ended
# by a report or by the prompt leaving the screen), or a person's message after its turn
# ended holding a task (ended only by a new turn).
PERMISSION_WAIT = "permission prompt"
TURN_WAIT = "turn ended holding"
LAST_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class ReportReply:
    """What `swarm report` prints (added to the agent's context) and its exit code."""

    output: str = ""
    exit_code: int = 0


def is_turn_wait(detail: str) -> bool:
    return detail.startswith(TURN_WAIT)


def prompt_digest(text: str) -> str:
    """Prompts are matched by digest: the event log never keeps what a person typed."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def one_line(text: str, limit: int = LAST_MESSAGE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def session_context(store: Store, agent: Agent, source: str) -> str:
    """The role and held task, given to a new session (a resumed one has them already)."""
    lines = [f"You are {agent.name}, the swarm's {agent.role}."]
    if source == "resume":
        lines.append("This session was resumed after a restart; its first message says more.")
    elif agent.hook:
        task = store.get_task(agent.hook)
        lines.append(f"Task {task.id} is on your hook: {task.title} (branch {task.branch}).")
        if task.body.strip():
            lines.append(task.body.strip())
        if task.notes.strip():
            lines.append("Notes from earlier attempts: " + task.notes.strip())
        lines.append("If it's on your hook, you run it: finish it, commit, then run `swarm done`.")
    else:
        lines.append("Nothing is on your hook yet; wait for a task.")
    return "\n".join(lines)


def handle_report(
    store: Store, agent_name: str, event: str, payload: dict[str, Any]
) -> ReportReply:
    """Apply one report to the agent's state and hand-over."""
    agent = store.find_agent(agent_name)
    if agent is None:
        return ReportReply()  # not a swarm agent (or removed): never block the runtime
    store.touch_agent(agent_name)
    session = payload.get("session_id")
    if isinstance(session, str) and session:
        transcript = payload.get("transcript_path")
        store.set_agent_session(
            agent_name, session, transcript if isinstance(transcript, str) else None
        )
    if event == "SessionStart":
        return _session_started(store, agent_name, str(payload.get("source") or "startup"))
    if event == "UserPromptSubmit":
        _prompted(store, agent_name, str(payload.get("prompt") or ""))
    elif event == "PermissionRequest":
        # Claude Code fires this as its permission menu appears; its Notification for the
        # same menu comes ~6 s later, too late to show a waiting agent at once.
        _wait_for_permission(store, agent_name, str(payload.get("tool_name") or "a tool"))
    elif event == "Notification":
        kind = str(payload.get("notification_type", ""))
        message = str(payload.get("message", ""))
        if kind == "permission_prompt" or "permission" in message.lower():
            _wait_for_permission(store, agent_name, "a tool")
    elif event in ("PreToolUse", "PostToolUse"):
        if agent.state in ("waiting", "stalled") and not is_turn_wait(agent.detail):
            tool = str(payload.get("tool_name") or "")
            store.set_agent_state(agent_name, "working", f"tool {tool}".strip())
        elif agent.state == "idle":
            store.set_agent_state(agent_name, "working", "tool in use")
    elif event == "PermissionDenied":
        if agent.state == "waiting" and not is_turn_wait(agent.detail):
            store.set_agent_state(agent_name, "working", "permission refused")
    elif event in ("Stop", "StopFailure"):
        error = str(payload.get("error") or payload.get("reason") or "")
        last = str(payload.get("last_assistant_message") or error)
        _turn_ended(store, agent_name, last, failed=event == "StopFailure")
    elif event == "SessionEnd":
        store.set_agent_state(
            agent_name, "dead", f"session ended ({payload.get('reason', 'exit')})"
        )
    return ReportReply()


def _apply(store: Store, agent: Agent, signal: handover.Signal) -> Agent:
    after = handover.next_state(agent.handover, signal)
    if after is None or after == agent.handover:
        return agent
    return store.set_handover(agent.name, after)


def _session_started(store: Store, name: str, source: str) -> ReportReply:
    with store.transaction():
        agent = store.get_agent(name)
        runtime = runtime_for(agent.runtime)
        if agent.hook:
            signal: handover.Signal = (
                "session_restored" if runtime.restores_task else "session_fresh"
            )
            agent = _apply(store, agent, signal)
        if runtime.startup_turn and source in ("startup", "resume"):
            store.set_agent_state(name, "starting", f"session {source}; start-up turn running")
        else:
            store.set_agent_state(name, "idle", f"session {source}")
        if source == "resume":
            store.add_event("agent.resumed", f"{name} resumed its conversation", agent=name)
    return ReportReply(output=session_context(store, agent, source))


def _prompted(store: Store, name: str, prompt: str) -> None:
    with store.transaction():
        agent = store.get_agent(name)
        runtime = runtime_for(agent.runtime)
        if agent.hook:
            task = store.get_task(agent.hook)
            if handover.carries_task(prompt, task.id):
                agent = _apply(store, agent, "prompted")
            if agent.handover == "acked" and task.status == "hooked":
                store.start_task(name)
        store.set_agent_state(name, "working", "turn started")
        typed = runtime.prompt_of(prompt)
        store.add_event(
            "agent.prompt",
            f"{name} took a prompt ({len(typed)} chars)",
            agent=name,
            data={"digest": prompt_digest(typed), "chars": len(typed)},
        )


def _wait_for_permission(store: Store, name: str, tool: str) -> None:
    what = f"{PERMISSION_WAIT} for {tool}"
    store.set_agent_state(name, "waiting", what)
    store.add_event("agent.waiting", what, agent=name)


def _turn_ended(store: Store, name: str, last: str, *, failed: bool) -> None:
    with store.transaction():
        agent = store.get_agent(name)
        if agent.hook and agent.handover == "acked":
            said = one_line(last) if last.strip() else "no `swarm done` yet"
            detail = f"{TURN_WAIT} {agent.hook}: {said}"
            store.set_agent_state(name, "waiting", detail)
            store.add_event(
                "agent.waiting",
                f"{name}: {detail}",
                agent=name,
                task=agent.hook,
                data={"why": "turn ended", "message": one_line(last, 2000), "failed": failed},
            )
            return
        detail = "turn failed" if failed else "turn ended"
        store.set_agent_state(name, "idle", f"{detail}: {one_line(last, 80)}" if failed else detail)
