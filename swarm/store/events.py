"""The append-only event history.

Every store change writes its event in the same transaction as the change itself, so the
history can never disagree with the state: either both happened or neither did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from swarm.store.backend import Connection
from swarm.store.models import Event


def add(
    conn: Connection,
    now: float,
    kind: str,
    message: str,
    agent: str | None = None,
    task: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Event:
    """Append one event (the caller holds the write transaction)."""
    text = json.dumps(dict(data) if data else {}, default=str)
    event_id = conn.insert(_INSERT, (now, kind, agent, task, message, text))
    return Event(
        id=event_id,
        ts=now,
        kind=kind,
        message=message,
        agent=agent,
        task=task,
        data=json.loads(text),
    )


def note(
    conn: Connection,
    now: float,
    kind: str,
    message: str,
    agent: str | None = None,
    task: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """`add` when nobody needs the new event's id: on PostgreSQL the row then goes to the
    server with the transaction's next statement, not in a round trip of its own."""
    text = json.dumps(dict(data) if data else {}, default=str)
    conn.execute(_INSERT, (now, kind, agent, task, message, text))


_INSERT = "INSERT INTO events (ts, kind, agent, task, message, data) VALUES (?, ?, ?, ?, ?, ?)"


def list_events(
    conn: Connection,
    after_id: int = 0,
    agent: str | None = None,
    task: str | None = None,
    limit: int | None = None,
) -> list[Event]:
    """Events after `after_id`, oldest first: a follower passes the last id it has seen."""
    sql = "SELECT * FROM events WHERE id > ?"
    params: list[Any] = [after_id]
    if agent is not None:
        sql += " AND agent = ?"
        params.append(agent)
    if task is not None:
        sql += " AND task = ?"
        params.append(task)
    sql += " ORDER BY id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(max(0, limit))
    return [Event.from_row(row) for row in conn.execute(sql, params)]


def latest(conn: Connection, n: int) -> list[Event]:
    """The last `n` events, oldest first (what a log pane shows)."""
    rows = conn.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (max(0, n),)).fetchall()
    return [Event.from_row(row) for row in reversed(rows)]
