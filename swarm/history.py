"""History: one Markdown file per ended task, so the swarm (and the mayor) can learn from it.

Every task that ends (merged, failed, cancelled) leaves `.swarm/history/<task-id>.md`:
YAML front matter with the facts (agents, runtime, attempts, bounces and why, duration,
tokens, cost, outcome, merged commit), then the task's text and the polecat's final
message. Plain files, greppable by people and agents; the store keeps an index (the
`history` table) for `swarm history`, and the place in the event log up to which files
were written, so a crashed writer redoes nothing and misses nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from swarm.errors import EXIT_USAGE, SwarmError
from swarm.store import Store
from swarm.store.models import Event, Task
from swarm.store.usage import HistoryEntry
from swarm.usage.transcript import last_assistant_text

ENDINGS = {"task.merged": "merged", "task.failed": "failed", "task.cancelled": "cancelled"}
FOLDER = "history"
BATCH = 500  # events read per sync step
NO_TRANSCRIPT = "(the agent's runtime keeps no transcript: no final message recorded)"


def folder(state_dir: Path) -> Path:
    return state_dir / FOLDER


def sync(store: Store, state_dir: Path) -> list[Path]:
    """Write the files of the tasks that ended since the last sync; returns them."""
    written: list[Path] = []
    after = store.history_event()
    while True:
        batch = store.events(after_id=after, limit=BATCH)
        if not batch:
            return written
        for event in batch:
            if event.kind in ENDINGS and event.task:
                entry = write(store, state_dir, event.task, ENDINGS[event.kind], event)
                if entry is not None:
                    store.index_history(entry, last_event=event.id)
                    written.append(Path(entry.path))
        after = batch[-1].id
        store.set_history_event(after)


def write(
    store: Store, state_dir: Path, task_id: str, outcome: str, ended: Event
) -> HistoryEntry | None:
    """The task's file, (re)written whole; a task retried and ended again is rewritten."""
    try:
        task = store.get_task(task_id)
    except SwarmError:
        return None
    meta, final = facts(store, task, outcome, ended)
    text = render(meta, task, final)
    path = folder(state_dir) / f"{task.id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".md.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    usage = meta.get("usage") or {}
    return HistoryEntry(
        task=task.id,
        title=task.title,
        outcome=outcome,
        ended_at=ended.ts,
        path=str(path),
        tokens=usage.get("tokens"),
        cost_usd=usage.get("cost_usd"),
    )


def facts(store: Store, task: Task, outcome: str, ended: Event) -> tuple[dict[str, Any], str]:
    """The front matter's facts and the polecat's final message."""
    events = store.events(task=task.id)
    agents: list[str] = []
    bounces: list[dict[str, Any]] = []
    done_at: float | None = None
    started: float | None = None
    reason = ""
    for event in events:
        if event.kind in ("task.hooked", "task.bounced") and event.agent:
            if event.agent not in agents:
                agents.append(event.agent)
            started = started if started is not None else event.ts
        if event.kind == "merge.status" and event.data.get("to") == "bounced":
            bounces.append({"at": _iso(event.ts), "reason": _last_line(event.data.get("result"))})
        if event.kind == "task.done":
            done_at = event.ts
        if event.kind == "task.failed" and event.id <= ended.id:
            reason = str(event.data.get("reason") or "")
    records = [a for a in (store.find_agent(name) for name in agents) if a is not None]
    runtimes = sorted({a.runtime for a in records})
    usage = store.usage_total(task=task.id)
    known = usage.tokens > 0 or any(a.transcript_path for a in records)
    meta: dict[str, Any] = {
        "task": task.id,
        "title": task.title,
        "outcome": outcome,
        "reason": reason or None,
        "agents": agents,
        "runtime": runtimes[0] if len(runtimes) == 1 else (runtimes or None),
        "attempts": task.attempts,
        "bounces": bounces,
        "created": _iso(task.created_at),
        "started": _iso(started) if started is not None else None,
        "ended": _iso(ended.ts),
        "duration_s": round(ended.ts - (started if started is not None else task.created_at), 1),
        "usage": usage.to_json() if known else None,
        "tokens": usage.tokens if known else "unknown",
        "cost_usd": round(usage.cost_usd, 6) if known else "unknown",
        "merged_commit": task.merge_sha if outcome == "merged" else None,
        "branch": task.branch,
    }
    last = next((a for a in reversed(records) if a.name == task.assignee), None)
    last = last or (records[-1] if records else None)
    final = NO_TRANSCRIPT
    if last is not None and last.transcript_path:
        final = last_assistant_text(last.transcript_path, before=done_at or ended.ts) or (
            "(no message found in the transcript)"
        )
    return meta, final


def render(meta: dict[str, Any], task: Task, final: str) -> str:
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    parts = [f"---\n{front}---\n", f"# {task.title}\n"]
    if task.body.strip():
        parts.append(task.body.strip() + "\n")
    if task.notes.strip():
        parts.append("## Notes from its attempts\n\n" + task.notes.strip() + "\n")
    parts.append("## Final message\n\n" + final.strip() + "\n")
    return "\n".join(parts)


def parse(text: str) -> tuple[dict[str, Any], str]:
    """A history file's front matter and its Markdown body."""
    if not text.startswith("---\n"):
        raise SwarmError("not a history file: no YAML front matter")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise SwarmError("not a history file: the front matter does not end")
    data: Any = yaml.safe_load(text[4 : end + 1])
    if not isinstance(data, dict):
        raise SwarmError("not a history file: the front matter is not a mapping")
    return data, text[end + 5 :].lstrip("\n")


@dataclass(frozen=True)
class Found:
    entry: HistoryEntry
    line: str  # the first matching line of the file ('' when the title matched)


def search(
    store: Store, state_dir: Path, query: str = "", since: float | None = None
) -> list[Found]:
    """Ended tasks, newest first; with a query, those whose title or file has every word."""
    sync(store, state_dir)
    words = [w.lower() for w in query.split()]
    found: list[Found] = []
    for entry in store.history(since):
        if not words:
            found.append(Found(entry, ""))
            continue
        haystack = f"{entry.task} {entry.title}".lower()
        if all(w in haystack for w in words):
            found.append(Found(entry, ""))
            continue
        try:
            text = Path(entry.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if all(w in text.lower() for w in words):
            found.append(Found(entry, _matching_line(text, words)))
    return found


def _matching_line(text: str, words: Iterable[str]) -> str:
    for line in text.splitlines():
        if any(w in line.lower() for w in words):
            return line.strip()[:100]
    return ""


_SINCE = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_since(value: str, now: float | None = None) -> float:
    """`--since 3d` (s, m, h, d, w) or a date `2026-11-30`: the earliest end time shown."""
    moment = time.time() if now is None else now
    text = value.strip().lower()
    if match := _SINCE.match(text):
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
        return moment - int(match.group(1)) * unit
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise SwarmError(
            f"--since {value!r}: expected an age like 3d, 12h, 30m or a date like 2026-11-30",
            EXIT_USAGE,
        ) from None


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def _last_line(value: Any) -> str:
    lines = [line.strip() for line in str(value or "").splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
