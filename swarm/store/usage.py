"""Usage rows, transcript cursors, swarm-wide pauses and the history index.

Usage is kept summed per (agent, task, day, model): a few rows per agent per day, however
long the transcripts grow. A usage row and the cursor that says how far its transcript was
read are written in one transaction, so a witness killed between the two never counts the
same tokens twice or loses them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from swarm.store import events
from swarm.store.backend import Connection
from swarm.usage.tokens import Usage

Grouping = Literal["task", "agent", "role", "day", "model"]
GROUPINGS: tuple[Grouping, ...] = ("task", "agent", "role", "day", "model")

_SUMS = (
    "sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),"
    " sum(cache_read_tokens), sum(cost_usd)"
)


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far an agent's transcript was read: the file, its inode, the byte offset, and
    the usage already counted for the last messages (a message is written in pieces)."""

    agent: str
    transcript: str
    inode: int = 0
    offset: int = 0
    recent: tuple[tuple[str, Usage], ...] = ()


@dataclass(frozen=True, slots=True)
class Pause:
    """Dispatch held back: by the daily budget (`budget`) or an account's usage limit."""

    scope: str
    reason: str
    since: float
    until: float | None
    agents: tuple[str, ...]
    ended_at: float | None
    notified_at: float | None = None

    def active(self, now: float) -> bool:
        return self.ended_at is None and (self.until is None or now < self.until)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    task: str
    title: str
    outcome: str
    ended_at: float
    path: str
    tokens: int | None
    cost_usd: float | None


def _usage(row: Any) -> Usage:
    return Usage(
        int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0), float(row[4] or 0)
    )


def add(
    conn: Connection,
    now: float,
    agent: str,
    role: str,
    task: str,
    day: str,
    model: str,
    usage: Usage,
) -> None:
    conn.execute(
        "INSERT INTO usage (agent, role, task, day, model, input_tokens, output_tokens,"
        " cache_write_tokens, cache_read_tokens, cost_usd, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (agent, task, day, model) DO UPDATE SET"
        " input_tokens = usage.input_tokens + excluded.input_tokens,"
        " output_tokens = usage.output_tokens + excluded.output_tokens,"
        " cache_write_tokens = usage.cache_write_tokens + excluded.cache_write_tokens,"
        " cache_read_tokens = usage.cache_read_tokens + excluded.cache_read_tokens,"
        " cost_usd = usage.cost_usd + excluded.cost_usd, role = excluded.role,"
        " updated_at = excluded.updated_at",
        (
            agent,
            role,
            task,
            day,
            model,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_write_tokens,
            usage.cache_read_tokens,
            usage.cost_usd,
            now,
        ),
    )


def _where(day: str | None, task: str | None) -> tuple[str, list[str]]:
    """` WHERE day = ? AND task = ?` for the filters given, and their values."""
    pairs = (("day", day), ("task", task))
    where = [(f"{name} = ?", value) for name, value in pairs if value is not None]
    if not where:
        return "", []
    return " WHERE " + " AND ".join(w for w, _v in where), [v for _w, v in where]


def totals(
    conn: Connection, by: Grouping, *, day: str | None = None, task: str | None = None
) -> dict[str, Usage]:
    """Usage summed per task, agent, role, day or model (optionally of one day or task)."""
    if by not in GROUPINGS:  # pragma: no cover - callers pass the literal
        raise ValueError(by)
    where, params = _where(day, task)
    sql = f"SELECT {by}, {_SUMS} FROM usage{where} GROUP BY {by}"
    return {str(row[0]): _usage(row[1:]) for row in conn.execute(sql, params)}


def total(conn: Connection, *, day: str | None = None, task: str | None = None) -> Usage:
    where, params = _where(day, task)
    return _usage(conn.execute(f"SELECT {_SUMS} FROM usage{where}", params).fetchone())


# -- cursors --------------------------------------------------------------------------------


def cursors(conn: Connection) -> dict[str, Cursor]:
    found: dict[str, Cursor] = {}
    for row in conn.execute("SELECT * FROM usage_cursors"):
        recent_raw: Any = json.loads(row["recent"] or "{}")
        pairs = recent_raw.items() if isinstance(recent_raw, dict) else ()
        recent = tuple((str(key), _counted(value)) for key, value in pairs)
        found[row["transcript"]] = Cursor(
            row["agent"], row["transcript"], int(row["inode"]), int(row["byte_offset"]), recent
        )
    return found


def _counted(value: Any) -> Usage:
    numbers = [int(v) for v in value[:4]] if isinstance(value, list) else []
    numbers += [0] * (4 - len(numbers))
    return Usage(numbers[0], numbers[1], numbers[2], numbers[3])


def save_cursor(conn: Connection, now: float, cursor: Cursor) -> None:
    recent = {
        key: [
            u.input_tokens,
            u.output_tokens,
            u.cache_write_tokens,
            u.cache_read_tokens,
            u.cost_usd,
        ]
        for key, u in cursor.recent
    }
    conn.execute(
        "INSERT INTO usage_cursors (agent, transcript, inode, byte_offset, recent, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (transcript) DO UPDATE SET"
        " agent = excluded.agent, inode = excluded.inode, byte_offset = excluded.byte_offset,"
        " recent = excluded.recent, updated_at = excluded.updated_at",
        (cursor.agent, cursor.transcript, cursor.inode, cursor.offset, json.dumps(recent), now),
    )


# -- pauses ---------------------------------------------------------------------------------


def _pause(row: Any) -> Pause:
    agents_raw: Any = json.loads(row["agents"] or "[]")
    return Pause(
        scope=row["scope"],
        reason=row["reason"],
        since=row["since"],
        until=row["until"],
        agents=tuple(str(a) for a in agents_raw) if isinstance(agents_raw, list) else (),
        ended_at=row["ended_at"],
        notified_at=row["notified_at"],
    )


def pauses(conn: Connection) -> dict[str, Pause]:
    return {row["scope"]: _pause(row) for row in conn.execute("SELECT * FROM pauses")}


def set_pause(
    conn: Connection,
    now: float,
    scope: str,
    reason: str,
    until: float | None,
    agents: Iterable[str],
    *,
    kind: str,
    message: str,
) -> Pause:
    """Start (or extend) a pause, with its one event."""
    conn.execute(
        "INSERT INTO pauses (scope, reason, since, until, agents, ended_at)"
        " VALUES (?, ?, ?, ?, ?, NULL) ON CONFLICT (scope) DO UPDATE SET"
        " reason = excluded.reason, since = excluded.since, until = excluded.until,"
        " agents = excluded.agents, ended_at = NULL, notified_at = NULL",
        (scope, reason, now, until, json.dumps(sorted(set(agents)))),
    )
    events.add(conn, now, kind, message, data={"scope": scope, "until": until, "reason": reason})
    return pauses(conn)[scope]


def update_pause(conn: Connection, scope: str, until: float | None, agents: Iterable[str]) -> None:
    """A later signal of the same pause: a new reset time, one more agent; no event."""
    conn.execute(
        "UPDATE pauses SET until = ?, agents = ? WHERE scope = ?",
        (until, json.dumps(sorted(set(agents))), scope),
    )


def mark_notified(conn: Connection, now: float, scope: str) -> None:
    conn.execute("UPDATE pauses SET notified_at = ? WHERE scope = ?", (now, scope))


def end_pause(conn: Connection, now: float, scope: str, *, kind: str, message: str) -> None:
    cursor = conn.execute(
        "UPDATE pauses SET ended_at = ? WHERE scope = ? AND ended_at IS NULL", (now, scope)
    )
    if cursor.rowcount:
        events.add(conn, now, kind, message, data={"scope": scope})


# -- history index --------------------------------------------------------------------------


def index_history(conn: Connection, entry: HistoryEntry) -> None:
    conn.execute(
        "INSERT INTO history (task, title, outcome, ended_at, path, tokens, cost_usd)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task) DO UPDATE SET"
        " title = excluded.title, outcome = excluded.outcome, ended_at = excluded.ended_at,"
        " path = excluded.path, tokens = excluded.tokens, cost_usd = excluded.cost_usd",
        (
            entry.task,
            entry.title,
            entry.outcome,
            entry.ended_at,
            entry.path,
            entry.tokens,
            entry.cost_usd,
        ),
    )


def history(conn: Connection, since: float | None = None) -> list[HistoryEntry]:
    sql, params = "SELECT * FROM history", []
    if since is not None:
        sql += " WHERE ended_at >= ?"
        params.append(since)
    sql += " ORDER BY ended_at DESC"
    return [
        HistoryEntry(
            r["task"],
            r["title"],
            r["outcome"],
            r["ended_at"],
            r["path"],
            r["tokens"],
            r["cost_usd"],
        )
        for r in conn.execute(sql, params)
    ]


def meta_get(conn: Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def meta_set(conn: Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )
