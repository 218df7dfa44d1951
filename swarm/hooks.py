"""Agent state from hook events: the exact signal, before any screen guessing.

Claude Code calls `swarm hook <Event>` with a JSON object on stdin (SessionStart,
UserPromptSubmit, Notification, Stop, SessionEnd); the sim runtime calls the same command
the same way. Each event moves the agent's state in the store; SessionStart also prints
the agent's role and hooked task, which Claude Code adds to the agent's context, so a
restarted or compacted agent knows at once what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swarm.store import Store
from swarm.store.models import Agent
from swarm.usage.hook import on_hook as on_usage_hook

HOOK_EVENTS = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Notification",
    "PermissionRequest",
    "Stop",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)


@dataclass(frozen=True)
class HookOutcome:
    """What the hook command prints (added to the agent's context) and its exit code."""

    output: str = ""
    exit_code: int = 0


def session_context(store: Store, agent: Agent) -> str:
    """The role and hooked task, re-injected after any restart or compaction."""
    lines = [f"You are {agent.name}, the swarm's {agent.role}."]
    if agent.hook:
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


def handle_hook(store: Store, agent_name: str, event: str, payload: dict[str, Any]) -> HookOutcome:
    """Apply one hook event to the agent's state."""
    agent = store.find_agent(agent_name)
    if agent is None:
        return HookOutcome()  # not a swarm agent (or removed): never block the runtime
    store.touch_agent(agent_name)
    on_usage_hook(store, agent_name, event, payload)  # a StopFailure from a limit: limited
    if event == "SessionStart":
        store.set_agent_state(agent_name, "idle", f"session {payload.get('source', 'startup')}")
        return HookOutcome(output=session_context(store, agent))
    if event == "UserPromptSubmit":
        if agent.hook:
            task = store.get_task(agent.hook)
            if task.status == "hooked":
                store.start_task(agent_name)
        store.set_agent_state(agent_name, "working", "turn started")
    elif event == "Notification":
        kind = str(payload.get("notification_type", ""))
        message = str(payload.get("message", ""))
        if kind == "permission_prompt" or "permission" in message.lower():
            store.set_agent_state(agent_name, "waiting", message or "permission prompt")
            store.add_event("agent.waiting", message or "permission prompt", agent=agent_name)
        elif kind == "idle_prompt":
            store.set_agent_state(agent_name, "idle", "waiting for input")
    elif event == "PermissionRequest":
        # Claude Code fires this as its permission menu appears; its Notification for the
        # same menu comes ~6 s later, too late to show a waiting agent at once.
        what = f"permission prompt for {payload.get('tool_name') or 'a tool'}"
        store.set_agent_state(agent_name, "waiting", what)
        store.add_event("agent.waiting", what, agent=agent_name)
    elif event in ("PreToolUse", "PostToolUse"):
        if agent.state in ("idle", "waiting", "stalled"):
            store.set_agent_state(
                agent_name, "working", f"tool {payload.get('tool_name', '')}".strip()
            )
    elif event == "Stop":
        fresh = store.get_agent(agent_name)
        detail = "turn ended"
        if fresh.hook and fresh.role == "polecat":
            detail = f"turn ended still holding {fresh.hook} (no `swarm done` yet)"
        store.set_agent_state(agent_name, "idle", detail)
    elif event == "SessionEnd":
        store.set_agent_state(
            agent_name, "dead", f"session ended ({payload.get('reason', 'exit')})"
        )
    return HookOutcome()
