"""Agents: who runs in which pane, in what state, holding which task (the hook).

Functions here take a connection; the write ones expect the caller (the `Store`) to hold
the write transaction, so that they compose with task changes atomically.
"""

from __future__ import annotations

import re
from pathlib import Path

from swarm.errors import EXIT_USAGE, NotFoundError, SwarmError
from swarm.store import events
from swarm.store.backend import Connection
from swarm.store.models import AGENT_STATES, HANDOVER_STATES, Agent


def _natural_key(agent: Agent) -> tuple[object, ...]:
    """`polecat-2` before `polecat-10`, as a person reads them."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", agent.name))


def find(conn: Connection, name: str) -> Agent | None:
    row = conn.execute("SELECT * FROM agents WHERE name = ?", (name,)).fetchone()
    return None if row is None else Agent.from_row(row)


def get(conn: Connection, name: str) -> Agent:
    agent = find(conn, name)
    if agent is None:
        raise NotFoundError(f"unknown agent '{name}'")
    return agent


def holder_of(conn: Connection, task_id: str) -> Agent | None:
    """The agent whose hook is `task_id` (at most one: `agents.hook` is UNIQUE)."""
    row = conn.execute("SELECT * FROM agents WHERE hook = ?", (task_id,)).fetchone()
    return None if row is None else Agent.from_row(row)


def list_agents(conn: Connection, role: str | None = None) -> list[Agent]:
    if role is None:
        rows = conn.execute("SELECT * FROM agents").fetchall()
    else:
        rows = conn.execute("SELECT * FROM agents WHERE role = ?", (role,)).fetchall()
    return sorted((Agent.from_row(row) for row in rows), key=_natural_key)


def idle(conn: Connection, role: str | None) -> list[Agent]:
    """Agents ready for work: state idle and no hook."""
    sql = "SELECT * FROM agents WHERE state = 'idle' AND hook IS NULL"
    params: tuple[str, ...] = ()
    if role is not None:
        sql += " AND role = ?"
        params = (role,)
    return sorted((Agent.from_row(row) for row in conn.execute(sql, params)), key=_natural_key)


def upsert(
    conn: Connection,
    now: float,
    name: str,
    role: str,
    runtime: str,
    pane: str | None,
    pid: int | None,
) -> Agent:
    """Register an agent, or update where it runs; its hook, restarts and state are kept,
    because re-registering after a crash must not lose the task it holds."""
    if not name.strip():
        raise SwarmError("an agent needs a name", exit_code=EXIT_USAGE)
    before = find(conn, name)
    if before is None:
        conn.execute(
            "INSERT INTO agents (name, role, runtime, pane, pid, state, state_since,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'starting', ?, ?, ?)",
            (name, role, runtime, pane, pid, now, now, now),
        )
        events.add(
            conn,
            now,
            "agent.registered",
            f"{name} registered ({role}, {runtime}, pane {pane})",
            agent=name,
            data={"role": role, "runtime": runtime, "pane": pane, "pid": pid},
        )
        return get(conn, name)
    if (before.role, before.runtime, before.pane, before.pid) == (role, runtime, pane, pid):
        return before
    conn.execute(
        "UPDATE agents SET role = ?, runtime = ?, pane = ?, pid = ?, updated_at = ? WHERE name = ?",
        (role, runtime, pane, pid, now, name),
    )
    events.add(
        conn,
        now,
        "agent.updated",
        f"{name} now runs {runtime} in pane {pane} (pid {pid})",
        agent=name,
        data={"role": role, "runtime": runtime, "pane": pane, "pid": pid},
    )
    return get(conn, name)


def remove(conn: Connection, now: float, name: str) -> None:
    agent = get(conn, name)
    if agent.hook is not None:
        raise SwarmError(f"cannot remove {name}: it holds {agent.hook}; release {agent.hook} first")
    conn.execute("DELETE FROM agents WHERE name = ?", (name,))
    events.add(conn, now, "agent.removed", f"{name} removed", agent=name)


def set_state(conn: Connection, now: float, name: str, state: str, detail: str) -> Agent:
    """Record a state; `state_since` and the event change only when the state does, so a
    hook firing the same state every second neither resets the clock nor floods history."""
    if state not in AGENT_STATES:
        raise SwarmError(
            f"unknown agent state '{state}' (one of: {', '.join(AGENT_STATES)})",
            exit_code=EXIT_USAGE,
        )
    agent = get(conn, name)
    if agent.state == state:
        if agent.detail != detail:
            conn.execute(
                "UPDATE agents SET detail = ?, updated_at = ? WHERE name = ?", (detail, now, name)
            )
            return get(conn, name)
        return agent
    conn.execute(
        "UPDATE agents SET state = ?, state_since = ?, detail = ?, updated_at = ? WHERE name = ?",
        (state, now, detail, now, name),
    )
    message = f"{name}: {agent.state} -> {state}" + (f" ({detail})" if detail else "")
    events.add(
        conn,
        now,
        "agent.state",
        message,
        agent=name,
        task=agent.hook,
        data={"from": agent.state, "to": state, "detail": detail},
    )
    return get(conn, name)


def touch(conn: Connection, now: float, name: str) -> None:
    """Note activity: one UPDATE, no event (this runs on every hook call)."""
    cursor = conn.execute("UPDATE agents SET last_activity = ? WHERE name = ?", (now, name))
    if cursor.rowcount == 0:
        raise NotFoundError(f"unknown agent '{name}'")


def record_restart(conn: Connection, now: float, name: str) -> Agent:
    agent = get(conn, name)
    conn.execute(
        "UPDATE agents SET restarts = restarts + 1, updated_at = ? WHERE name = ?", (now, name)
    )
    events.add(
        conn,
        now,
        "agent.restarted",
        f"{name} restarted (restart {agent.restarts + 1})",
        agent=name,
        task=agent.hook,
        data={"restarts": agent.restarts + 1},
    )
    return get(conn, name)


def set_worktree(conn: Connection, now: float, name: str, path: Path | str | None) -> Agent:
    agent = get(conn, name)
    value = None if path is None else str(path)
    if agent.worktree == value:
        return agent
    conn.execute(
        "UPDATE agents SET worktree = ?, updated_at = ? WHERE name = ?", (value, now, name)
    )
    message = f"{name} worktree: {value}" if value else f"{name} worktree removed"
    events.add(conn, now, "agent.worktree", message, agent=name, data={"worktree": value})
    return get(conn, name)


def set_hook(conn: Connection, now: float, name: str, task_id: str | None) -> None:
    """Point an agent's hook at a task, or clear it (no event: the task change records it).

    The hand-over starts over with it (`swarm.handover`: *hooked* or *unhooked*), in the same
    transaction, so no task is ever held without a hand-over state that says what to do."""
    handover = "none" if task_id is None else "pending"
    conn.execute(
        "UPDATE agents SET hook = ?, handover = ?, handover_at = ?, updated_at = ? WHERE name = ?",
        (task_id, handover, now, now, name),
    )


def set_resources(
    conn: Connection, name: str, cpu_percent: float | None, rss_bytes: int | None
) -> None:
    """The witness's measurement of the agent's process tree; no event (it runs every tick)."""
    conn.execute(
        "UPDATE agents SET cpu_percent = ?, rss_bytes = ? WHERE name = ?",
        (cpu_percent, rss_bytes, name),
    )


def set_session(
    conn: Connection, now: float, name: str, session_id: str, transcript: str | None
) -> Agent:
    """Remember the runtime's own conversation, so a restart can resume it."""
    agent = get(conn, name)
    if (agent.session_id, agent.transcript_path) == (session_id, transcript):
        return agent
    conn.execute(
        "UPDATE agents SET session_id = ?, transcript_path = ?, updated_at = ? WHERE name = ?",
        (session_id, transcript, now, name),
    )
    if agent.session_id != session_id:
        events.add(
            conn,
            now,
            "agent.session",
            f"{name} runs session {session_id}",
            agent=name,
            data={"session_id": session_id, "transcript": transcript},
        )
    return get(conn, name)


def set_handover(conn: Connection, now: float, name: str, handover: str) -> Agent:
    """Record how far the hand-over of the held task got (no event: callers say why)."""
    if handover not in HANDOVER_STATES:
        raise SwarmError(f"unknown hand-over state '{handover}'", exit_code=EXIT_USAGE)
    conn.execute(
        "UPDATE agents SET handover = ?, handover_at = ?, updated_at = ? WHERE name = ?",
        (handover, now, now, name),
    )
    return get(conn, name)
