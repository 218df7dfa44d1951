"""Moving a swarm's history between stores (`swarm store export` / `import`).

The usual move is a single machine's `.swarm/swarm.db` into a team's PostgreSQL store. The
dump is JSON lines, one row per line, readable by either backend. Import is one transaction:
a task id that already exists in the target refuses the whole import, nothing half-copied.
Agents are not moved (they belong to the machine that runs them): a task one of them held
comes back open, with a note, and a finished task keeps its place in the merge queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from swarm.errors import EXIT_USAGE, SwarmError
from swarm.store import events
from swarm.store.backend import Connection

FORMAT = "swarm-store-export"
TABLES = ("tasks", "merge_requests", "events")
_TASK_COLUMNS = (
    "id", "title", "body", "priority", "status", "assignee", "attempts", "branch", "notes",
    "merge_sha", "created_at", "updated_at",
)  # fmt: skip
_MR_COLUMNS = (
    "task_id", "agent", "branch", "head_sha", "base_sha", "status", "attempts", "result",
    "merge_sha", "created_at", "updated_at",
)  # fmt: skip
_EVENT_COLUMNS = ("ts", "kind", "agent", "task", "message", "data")
_ORDER = {"tasks": "seq", "merge_requests": "id", "events": "id"}


def export_lines(conn: Connection, schema_version: int) -> Iterator[str]:
    """The header, then every task, merge request and event in their own order."""
    yield json.dumps({"format": FORMAT, "schema_version": schema_version})
    for table in TABLES:
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY {_ORDER[table]}"):
            values = dict(zip(row.keys(), row, strict=True))  # sqlite3.Row iterates values
            yield json.dumps({"table": table, "row": values}, default=str)


def read_lines(lines: Iterable[str], source: str) -> dict[str, list[dict[str, Any]]]:
    """Parse a dump; any damage is one line naming the file and line."""
    rows: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    header_seen = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SwarmError(f"{source}:{number}:{exc.colno}: not JSON", EXIT_USAGE) from None
        if not header_seen:
            if not isinstance(item, dict) or item.get("format") != FORMAT:
                raise SwarmError(f"{source}:{number}: not a `swarm store export` file", EXIT_USAGE)
            header_seen = True
            continue
        table = item.get("table") if isinstance(item, dict) else None
        row = item.get("row") if isinstance(item, dict) else None
        if table not in rows or not isinstance(row, dict):
            raise SwarmError(f"{source}:{number}: unknown row {str(item)[:60]}", EXIT_USAGE)
        rows[table].append(row)
    if not header_seen:
        raise SwarmError(f"{source}: empty file, not a `swarm store export`", EXIT_USAGE)
    return rows


def import_rows(
    conn: Connection, now: float, rows: Mapping[str, list[dict[str, Any]]], source: str
) -> dict[str, int]:
    """Append a dump's rows (the caller holds the write transaction); counts per table."""
    ids = [str(task["id"]) for task in rows["tasks"]]
    if ids:
        marks = ", ".join("?" for _ in ids)
        taken = [r[0] for r in conn.execute(f"SELECT id FROM tasks WHERE id IN ({marks})", ids)]
        if taken:
            raise SwarmError(
                f"cannot import {source}: task {', '.join(sorted(taken)[:5])} already exists "
                f"in this store (imported before?); nothing was imported"
            )
    for task in rows["tasks"]:
        values = {column: task.get(column) for column in _TASK_COLUMNS}
        if values["status"] in ("hooked", "working"):
            held = values["assignee"]
            values["status"], values["assignee"] = "open", None
            note = f"imported from {source}: was held by {held} there"
            values["notes"] = f"{values['notes']}\n\n{note}" if values["notes"] else note
        _insert(conn, "tasks", values)
    for mr in rows["merge_requests"]:
        values = {c: mr.get(c) for c in _MR_COLUMNS}
        if values["status"] == "testing":  # its refinery is not coming back to it
            values["status"] = "queued"
        _insert(conn, "merge_requests", values, returning=True)
    for event in rows["events"]:
        values = {c: event.get(c) for c in _EVENT_COLUMNS}
        if not isinstance(values["data"], str):
            values["data"] = json.dumps(values["data"] or {})
        _insert(conn, "events", values, returning=True)
    counts = {table: len(rows[table]) for table in TABLES}
    events.add(
        conn,
        now,
        "store.imported",
        f"imported {source}: {counts['tasks']} task(s), {counts['merge_requests']} merge "
        f"request(s), {counts['events']} event(s)",
        data={"source": source, **counts},
    )
    return counts


def _insert(
    conn: Connection, table: str, values: Mapping[str, Any], returning: bool = False
) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
    if returning:
        conn.insert(sql, list(values.values()))
    else:
        conn.execute(sql, list(values.values()))
