"""`Store`: the one door to the swarm's state (`.swarm/swarm.db`, or a team's PostgreSQL).

Every method is either a plain read or exactly one short write transaction that
also appends its event, so the CLI, the controller, the hooks and the sidebar can all write
at once from their own processes. Open one `Store` per process (and use it from one thread):
a connection is cheap to keep and the schema is checked only when it is opened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from swarm.store import (
    agents,
    db,
    events,
    leases,
    merges,
    pushes,
    requeue,
    tasks,
    transfer,
    usage,
)
from swarm.store.backend import Connection, parse_url
from swarm.store.models import (
    DEFAULT_PRIORITY,
    Agent,
    Event,
    Lease,
    MergeRequest,
    PushRequest,
    Task,
    TaskStatus,
)
from swarm.store.usage import Cursor, Grouping, HistoryEntry, Pause
from swarm.usage.tokens import Usage

Clock = Callable[[], float]
# Seconds a remembered answer (a claim that found no open task, the pauses) is trusted while
# no change is heard: a bound on the one case no NOTIFY covers (a claim skipped a row that
# another claim had locked and then rolled back).
NOTHING_OPEN_FOR = 5.0


class Store:
    """Tasks, agents, merge requests and events of one swarm."""

    def __init__(
        self, conn: Connection, clock: Clock = time.time, scope: str | None = None
    ) -> None:
        """Wrap an already migrated connection; use `Store.open` instead."""
        self._conn = conn
        # In a team, the machine this process manages: `list_agents` and `idle_agents` give
        # its own agents (`laptop-a/…`) unless asked for the whole team.
        self.scope = scope
        self.url = conn.url
        self.dialect = conn.dialect
        # The SQLite file, None for a server.
        self.path: Path | None = getattr(conn, "path", None)
        self._clock = clock
        # Leases compare times written by different machines: the store's clock decides,
        # unless a test injected its own.
        self._lease_clock: Clock = conn.now if clock is time.time else clock
        # Listening stores only (see claim_next_task): the change count at which a claim last
        # found no open task, and the pauses as last read, each with when it stops being trusted.
        self._nothing_open: tuple[int, float] | None = None
        self._pauses: tuple[int, float, dict[str, Pause]] | None = None

    @classmethod
    def open(cls, target: Path | str, clock: Clock = time.time, scope: str | None = None) -> Store:
        """Open the store at `target` and bring its schema up to date.

        `target` is a store URL (`sqlite:///…/swarm.db`, `postgresql://…`) or a SQLite
        file's path (its folder and file are created). `clock` is injectable so tests can
        control `state_since` and friends. `scope`: a team machine's name (see `scope`).
        """
        conn = db.connect(target)
        try:
            db.migrate(conn, parse_url(target).display)
        except BaseException:
            conn.close()
            raise
        return cls(conn, clock, scope)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return db.schema_version(self._conn)

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" check."""
        return self._conn.data_version()

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Sleep until `data_version()` is no longer `since` (or `timeout` seconds pass) and
        return it: LISTEN/NOTIFY on PostgreSQL, a short poll of the file on SQLite."""
        return self._conn.wait_for_change(since, timeout)

    @property
    def listens(self) -> bool:
        """True when `data_version` and `wait_for_change` ask the process's LISTEN connection
        (PostgreSQL): no query, woken within milliseconds, callable from any thread. False
        (SQLite): they read this connection's file, from its own thread only."""
        return self._conn.listens

    def server_time(self) -> float:
        """The store's clock: the database server's, or this machine's for a file."""
        return self._conn.now()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several calls into one atomic transaction (e.g. adding a batch of tasks)."""
        with db.transaction(self._conn):
            yield

    @contextmanager
    def _write(self) -> Iterator[tuple[Connection, float]]:
        self._nothing_open = self._pauses = None  # this process's own write may change them
        with db.transaction(self._conn) as conn:
            yield conn, self._clock()

    # -- tasks ------------------------------------------------------------------------------

    def add_task(self, title: str, body: str = "", priority: int = DEFAULT_PRIORITY) -> Task:
        with self._write() as (conn, now):
            return tasks.add(conn, now, title, body, priority)

    def get_task(self, task_id: str) -> Task:
        return tasks.get(self._conn, task_id)

    def list_tasks(self, statuses: Iterable[str] | None = None) -> list[Task]:
        return tasks.list_tasks(self._conn, statuses)

    def task_counts(self) -> dict[TaskStatus, int]:
        return tasks.counts(self._conn)

    def claim_next_task(self, agent: str) -> Task | None:
        """Hook the best open task to `agent`; None when there is none.

        On a listening store (PostgreSQL) a claim that found nothing is remembered until the
        next change is heard (or NOTHING_OPEN_FOR seconds): an idle team's controllers ask
        for every idle polecat every second, and each asking would be a write transaction.
        A change heard a few milliseconds late costs nothing: it wakes the controller, whose
        next pass claims again.
        """
        seen = self._heard()
        memo = self._nothing_open
        if seen is not None and memo is not None and memo[0] == seen and self._fresh(memo[1]):
            return None
        with self._write() as (conn, now):
            claimed = tasks.claim_next(conn, now, agent)
        if claimed is None and seen is not None:
            self._nothing_open = (seen, time.monotonic() + NOTHING_OPEN_FOR)
        return claimed

    def _heard(self) -> int | None:
        """The listener's change count when answers may be remembered by it, else None:
        only in a process that already listens (a loop's); a one-shot command asks."""
        if self._conn.listening and not self._conn.in_transaction:
            return self._conn.data_version()
        return None

    @staticmethod
    def _fresh(until: float) -> bool:
        return time.monotonic() < until

    def hook_task(self, task_id: str, agent: str) -> Task:
        with self._write() as (conn, now):
            return tasks.hook(conn, now, task_id, agent)

    def start_task(self, agent: str) -> Task:
        with self._write() as (conn, now):
            return tasks.start(conn, now, agent)

    def finish_task(self, agent: str, head_sha: str, base_sha: str) -> MergeRequest:
        with self._write() as (conn, now):
            return tasks.finish(conn, now, agent, head_sha, base_sha)

    # -- a team polecat's push, made by its machine's controller (swarm.store.pushes) ------

    def request_push(self, agent: str, head_sha: str, base_sha: str) -> PushRequest:
        with self._write() as (conn, now):
            return pushes.want(conn, now, agent, head_sha, base_sha)

    def pending_pushes(self) -> list[PushRequest]:
        return pushes.pending(self._conn)

    def finish_pushed(self, agent: str, head_sha: str) -> MergeRequest | None:
        """The branch is on the remote: the task is done and queued (None: no longer wanted)."""
        with self._write() as (conn, now):
            return pushes.pushed(conn, now, agent, head_sha)

    def push_failed(self, agent: str, head_sha: str, error: str) -> bool:
        """Count a failed try; True when its reason is new (an event says it)."""
        with self._write() as (conn, now):
            return pushes.failed(conn, now, agent, head_sha, error)

    def fail_task(self, task_id: str, reason: str = "") -> Task:
        with self._write() as (conn, now):
            return tasks.fail(conn, now, task_id, reason)

    def cancel_task(self, task_id: str) -> Task:
        with self._write() as (conn, now):
            return tasks.cancel(conn, now, task_id)

    def retry_task(self, task_id: str) -> Task:
        with self._write() as (conn, now):
            return tasks.retry(conn, now, task_id)

    def release_task(self, task_id: str, notes: str | None = None) -> Task:
        with self._write() as (conn, now):
            return tasks.release(conn, now, task_id, notes)

    def bounce_task_to(self, task_id: str, agent: str, notes: str = "") -> Task:
        with self._write() as (conn, now):
            return tasks.bounce_to(conn, now, task_id, agent, notes)

    def mark_merged(self, task_id: str, merge_sha: str) -> Task:
        with self._write() as (conn, now):
            return tasks.mark_merged(conn, now, task_id, merge_sha)

    # -- agents -----------------------------------------------------------------------------

    def upsert_agent(
        self, name: str, role: str, runtime: str, pane: str | None = None, pid: int | None = None
    ) -> Agent:
        with self._write() as (conn, now):
            return agents.upsert(conn, now, name, role, runtime, pane, pid)

    def remove_agent(self, name: str) -> None:
        with self._write() as (conn, now):
            agents.remove(conn, now, name)

    def get_agent(self, name: str) -> Agent:
        return agents.get(self._conn, name)

    def find_agent(self, name: str) -> Agent | None:
        return agents.find(self._conn, name)

    def list_agents(self, role: str | None = None, *, team: bool = False) -> list[Agent]:
        """This machine's agents (every agent on a single machine); `team`: everyone's."""
        return self._scoped(agents.list_agents(self._conn, role), team)

    def idle_agents(self, role: str | None = None, *, team: bool = False) -> list[Agent]:
        return self._scoped(agents.idle(self._conn, role), team)

    def _scoped(self, found: list[Agent], team: bool) -> list[Agent]:
        if self.scope is None or team:
            return found
        prefix = f"{self.scope}/"
        return [agent for agent in found if agent.name.startswith(prefix)]

    def set_agent_state(self, name: str, state: str, detail: str = "") -> Agent:
        with self._write() as (conn, now):
            return agents.set_state(conn, now, name, state, detail)

    def touch_agent(self, name: str) -> None:
        with self._write() as (conn, now):
            agents.touch(conn, now, name)

    def set_agent_resources(
        self, name: str, cpu_percent: float | None, rss_bytes: int | None
    ) -> None:
        with self._write() as (conn, _now):
            agents.set_resources(conn, name, cpu_percent, rss_bytes)

    def record_restart(self, name: str) -> Agent:
        with self._write() as (conn, now):
            return agents.record_restart(conn, now, name)

    def set_worktree(self, name: str, path: Path | str | None) -> Agent:
        with self._write() as (conn, now):
            return agents.set_worktree(conn, now, name, path)

    def set_agent_session(self, name: str, session_id: str, transcript: str | None) -> Agent:
        with self._write() as (conn, now):
            return agents.set_session(conn, now, name, session_id, transcript)

    def set_handover(self, name: str, handover: str) -> Agent:
        with self._write() as (conn, now):
            return agents.set_handover(conn, now, name, handover)

    # -- merge requests ---------------------------------------------------------------------

    def get_merge_request(self, mr_id: int) -> MergeRequest:
        return merges.get(self._conn, mr_id)

    def list_merge_requests(self, statuses: Iterable[str] | None = None) -> list[MergeRequest]:
        return merges.list_requests(self._conn, statuses)

    def merge_request_for_task(self, task_id: str) -> MergeRequest | None:
        """The task's request still in the queue, if any."""
        return merges.live_for_task(self._conn, task_id)

    def queue_position(self, mr_id: int) -> int | None:
        return merges.queue_position(self._conn, mr_id)

    def set_merge_status(self, mr_id: int, status: str, result: str = "") -> MergeRequest:
        with self._write() as (conn, now):
            return merges.set_status(conn, now, mr_id, status, result)

    def update_merge_head(self, mr_id: int, head_sha: str) -> MergeRequest:
        with self._write() as (conn, now):
            return merges.update_head(conn, now, mr_id, head_sha)

    def mark_request_merged(self, mr_id: int, merge_sha: str) -> MergeRequest:
        """Merge request and task -> merged together, exactly once."""
        with self._write() as (conn, now):
            return tasks.mark_request_merged(conn, now, mr_id, merge_sha)

    def requeue_task(self, task_id: str, head_sha: str, base_sha: str) -> MergeRequest:
        """Queue an open or failed task's branch for merging again (`swarm mq retry`)."""
        with self._write() as (conn, now):
            return requeue.requeue(conn, now, task_id, head_sha, base_sha)

    # -- events -----------------------------------------------------------------------------

    def add_event(
        self,
        kind: str,
        message: str,
        agent: str | None = None,
        task: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Event:
        with self._write() as (conn, now):
            return events.add(conn, now, kind, message, agent, task, data)

    def events(
        self,
        after_id: int = 0,
        agent: str | None = None,
        task: str | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        return events.list_events(self._conn, after_id, agent, task, limit)

    def latest_events(self, n: int = 50) -> list[Event]:
        return events.latest(self._conn, n)

    # -- moving history between stores ------------------------------------------------------

    def export_lines(self) -> Iterator[str]:
        """The store's tasks, merge requests and events as JSON lines (`swarm store export`)."""
        return transfer.export_lines(self._conn, self.schema_version)

    def import_rows(self, rows: Mapping[str, list[dict[str, Any]]], source: str) -> dict[str, int]:
        """Append another store's export, all or nothing (`swarm store import`)."""
        with self._write() as (conn, now):
            return transfer.import_rows(conn, now, rows, source)

    # -- leases (a team's one refinery, its machines' liveness) -----------------------------

    def acquire_lease(self, name: str, holder: str, ttl: float) -> Lease | None:
        """Take or renew a lease for `ttl` seconds; None while another holder's lease runs."""
        with db.transaction(self._conn) as conn:
            return leases.acquire(conn, self._lease_clock(), name, holder, ttl)

    def release_lease(self, name: str, holder: str) -> bool:
        with db.transaction(self._conn) as conn:
            return leases.release(conn, self._lease_clock(), name, holder)

    def forget_lease(self, name: str) -> None:
        with db.transaction(self._conn) as conn:
            leases.forget(conn, name)

    def get_lease(self, name: str) -> Lease | None:
        return leases.find(self._conn, name)

    def list_leases(self, prefix: str = "") -> list[Lease]:
        return leases.list_leases(self._conn, prefix)

    def lease_time(self) -> float:
        """Now, on the clock leases are timed by."""
        return self._lease_clock()

    # -- small shared values ---------------------------------------------------------------

    def get_value(self, key: str) -> str | None:
        """A value kept in the store's `meta` (e.g. a team refinery's landing journal)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (f"x:{key}",)).fetchone()
        return None if row is None else str(row[0])

    def set_value(self, key: str, value: str | None) -> None:
        with db.transaction(self._conn) as conn:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (f"x:{key}",))
            else:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (f"x:{key}", value),
                )

    # -- usage, pauses, history (swarm.usage, swarm.budget, swarm.history) ------------------

    def record_usage(
        self,
        cursors: Iterable[Cursor],
        rows: Iterable[tuple[str, str, str, str, str, Usage]],
    ) -> None:
        """Usage rows (agent, role, task, day, model, usage) and the transcript cursors that
        cover them, in one transaction: counted exactly once, whatever dies when."""
        with self._write() as (conn, now):
            for agent, role, task, day, model, used in rows:
                usage.add(conn, now, agent, role, task, day, model, used)
            for cursor in cursors:
                usage.save_cursor(conn, now, cursor)

    def usage_cursors(self) -> dict[str, Cursor]:
        """Every transcript read so far, by path."""
        return usage.cursors(self._conn)

    def usage_by(
        self, by: Grouping, *, day: str | None = None, task: str | None = None
    ) -> dict[str, Usage]:
        return usage.totals(self._conn, by, day=day, task=task)

    def usage_total(self, *, day: str | None = None, task: str | None = None) -> Usage:
        return usage.total(self._conn, day=day, task=task)

    def pauses(self) -> dict[str, Pause]:
        """Every pause; asked for each idle agent on every pass of the controller, so a
        listening store answers from the last read until a change is heard."""
        seen = self._heard()
        memo = self._pauses
        if seen is not None and memo is not None and memo[0] == seen and self._fresh(memo[1]):
            return dict(memo[2])
        found = usage.pauses(self._conn)
        if seen is not None:
            self._pauses = (seen, time.monotonic() + NOTHING_OPEN_FOR, found)
        return dict(found)

    def set_pause(
        self,
        scope: str,
        reason: str,
        until: float | None,
        agents: Iterable[str] = (),
        *,
        kind: str,
        message: str,
    ) -> Pause:
        with self._write() as (conn, now):
            return usage.set_pause(
                conn, now, scope, reason, until, agents, kind=kind, message=message
            )

    def update_pause(self, scope: str, until: float | None, agents: Iterable[str]) -> None:
        with self._write() as (conn, _now):
            usage.update_pause(conn, scope, until, agents)

    def mark_pause_notified(self, scope: str) -> None:
        with self._write() as (conn, now):
            usage.mark_notified(conn, now, scope)

    def end_pause(self, scope: str, *, kind: str, message: str) -> None:
        with self._write() as (conn, now):
            usage.end_pause(conn, now, scope, kind=kind, message=message)

    def index_history(self, entry: HistoryEntry, last_event: int | None = None) -> None:
        """Index one history file; `last_event` moves the history writer's place in the
        event log in the same transaction."""
        with self._write() as (conn, _now):
            usage.index_history(conn, entry)
            if last_event is not None:
                usage.meta_set(conn, "history_event", str(last_event))

    def set_history_event(self, last_event: int) -> None:
        with self._write() as (conn, _now):
            usage.meta_set(conn, "history_event", str(last_event))

    def history_event(self) -> int:
        value = usage.meta_get(self._conn, "history_event")
        return int(value) if value and value.isdigit() else 0

    def history(self, since: float | None = None) -> list[HistoryEntry]:
        return usage.history(self._conn, since)
