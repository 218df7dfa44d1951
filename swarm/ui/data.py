"""What the sidebar shows, read in one pass: a `Snapshot` of agents, queue, merges and events.

The sidebar never reads the store from its UI thread. A background worker owns one `Store`
connection and asks `SnapshotSource.poll` whenever `SnapshotSource.wait` returns: on SQLite
about four times a second, a `poll` costing one `PRAGMA data_version` when nothing changed;
on PostgreSQL when the process's LISTEN connection hears a commit (no query at all while
nothing changes). `poll` reads the store only when something was committed, and every couple
of seconds re-checks tmux liveness (and the ages tick) from the rows it already holds.
Liveness is one `tmux list-panes` call for the whole session, never a call per pane.

Nothing here imports Textual: the snapshot is plain frozen data, so the benchmark and the
tests can build and compare it without a UI.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from swarm.errors import SwarmError
from swarm.inbox import DONE, ESCALATION, InboxItem, open_escalations
from swarm.instance import SwarmInstance
from swarm.refinery import merge_reason
from swarm.status import live_state, role_rank
from swarm.store import Store
from swarm.store.models import LIVE_MERGE_STATUSES, TASK_STATUSES, Agent, Event, MergeRequest, Task
from swarm.tmux.client import PaneInfo, Tmux
from swarm.tmux.focus import agent_sort_key
from swarm.ui.open_tasks import OpenTasks
from swarm.usage.report import agent_usage, total_of
from swarm.usage.tokens import Usage

Clock = Callable[[], float]
PaneLister = Callable[[], Sequence[PaneInfo]]

POLL_INTERVAL = 0.25  # seconds between SQLite `data_version` checks
FULL_EVERY = 2.0  # a fresh snapshot (and one tmux call) at least this often
WAKE_SLICE = 0.05  # seconds between looks at the worker's wake-up flag while on LISTEN
QUEUE_ROWS = 12  # queued tasks kept in a snapshot (the counts cover the rest)
RECENT_MERGES = 6  # finished merge requests kept (newest first)
EVENT_ROWS = 40  # recent events kept
FOLLOW_LIMIT = 500  # new events read incrementally; a bigger burst means a full re-read
# States in which an agent needs a person; "escalated" is written by the witness into
# the agent's detail (there is no stored state for it), so it is matched there too.
ATTENTION_STATES = ("waiting", "stalled", "dead")
QUEUE_STATUSES = ("open", "hooked")
FINISHED_MERGES = ("merged", "bounced", "rejected")
INBOX_KINDS = (ESCALATION, DONE)


def is_escalated(detail: str) -> bool:
    return detail.lower().startswith("escalat")


def needs_person(state: str, detail: str) -> bool:
    """Waiting at a prompt, stalled, dead or escalated: shown first, counted in the title."""
    return state in ATTENTION_STATES or is_escalated(detail)


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent as the sidebar shows it; `state` is the live state (tmux overrides)."""

    name: str
    role: str
    runtime: str
    state: str
    since: float | None
    task: str | None
    task_title: str
    detail: str
    cpu_percent: float | None
    rss_bytes: int | None
    restarts: int
    pane: str | None
    cost_usd: float | None = None  # None: the runtime reports no usage

    @property
    def needs_person(self) -> bool:
        return needs_person(self.state, self.detail)

    @property
    def shown_state(self) -> str:
        """The state word to draw: `escalated` wins over the stored state."""
        return "escalated" if is_escalated(self.detail) else self.state


@dataclass(frozen=True, slots=True)
class TaskRow:
    id: str
    title: str
    priority: int
    status: str
    assignee: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class MergeRow:
    id: int
    task_id: str
    agent: str
    branch: str
    status: str
    result: str  # the last non-empty line of the refinery's result: the "why"
    attempts: int
    updated_at: float


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    ts: float
    kind: str
    agent: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything on screen at one moment; equal snapshots mean nothing to redraw."""

    now: float
    session: str = ""
    agents: tuple[AgentRow, ...] = ()
    queue: tuple[TaskRow, ...] = ()
    queue_total: int = 0
    counts: tuple[tuple[str, int], ...] = ()
    merges_live: tuple[MergeRow, ...] = ()
    merges_done: tuple[MergeRow, ...] = ()
    events: tuple[EventRow, ...] = ()
    tmux_seen: bool = True  # False when tmux could not be asked (liveness unknown)
    cost_total: float | None = None  # dollars all agents spent; None: no runtime reports it
    escalations: tuple[InboxItem, ...] = ()  # open ones, oldest first: the "needs you" list

    @property
    def attention(self) -> int:
        return sum(1 for a in self.agents if a.needs_person)

    def agent(self, name: str) -> AgentRow | None:
        return next((a for a in self.agents if a.name == name), None)

    def merge(self, mr_id: int) -> MergeRow | None:
        return next((m for m in (*self.merges_live, *self.merges_done) if m.id == mr_id), None)


def order_agents(rows: Sequence[AgentRow], rank: Mapping[str, int]) -> tuple[AgentRow, ...]:
    """Agents that need a person first, then by role in the layout's order (`rank`, see
    `swarm.status.role_rank`), polecat-2 before polecat-10."""
    return tuple(
        sorted(
            rows,
            key=lambda r: (
                0 if r.needs_person else 1,
                rank.get(r.role, len(rank)),
                agent_sort_key(r.name),
            ),
        )
    )


def agent_row(agent: Agent, state: str, task_title: str, cost_usd: float | None = None) -> AgentRow:
    return AgentRow(
        name=agent.name,
        role=agent.role,
        runtime=agent.runtime,
        state=state,
        since=agent.state_since,
        task=agent.hook,
        task_title=task_title,
        detail=agent.detail,
        cpu_percent=agent.cpu_percent,
        rss_bytes=agent.rss_bytes,
        restarts=agent.restarts,
        pane=agent.pane,
        cost_usd=cost_usd,
    )


def task_row(task: Task) -> TaskRow:
    return TaskRow(
        id=task.id,
        title=task.title,
        priority=task.priority,
        status=task.status,
        assignee=task.assignee,
        created_at=task.created_at,
    )


def merge_row(mr: MergeRequest) -> MergeRow:
    return MergeRow(
        id=mr.id,
        task_id=mr.task_id,
        agent=mr.agent,
        branch=mr.branch,
        status=mr.status,
        result=merge_reason(mr.status, mr.result),
        attempts=mr.attempts,
        updated_at=mr.updated_at,
    )


def event_row(event: Event) -> EventRow:
    return EventRow(
        id=event.id, ts=event.ts, kind=event.kind, agent=event.agent, message=event.message
    )


@dataclass(frozen=True)
class StoreRows:
    """What one read of the store gave, kept until the store changes again."""

    agents: list[Agent]
    titles: dict[str, str]
    spent: Mapping[str, Usage | None]
    queue: tuple[TaskRow, ...]
    queue_total: int
    counts: tuple[tuple[str, int], ...]
    merges_live: tuple[MergeRow, ...]
    events: tuple[EventRow, ...]
    cost_total: float | None
    escalations: tuple[InboxItem, ...]


class SnapshotSource(Protocol):
    """Where snapshots come from; `open`, `poll` and `close` run on the worker's thread."""

    def open(self) -> None: ...

    def poll(self, force: bool = False) -> Snapshot | None:
        """A new snapshot if anything changed (or `force`), else None."""
        ...

    def wait(self, wake: threading.Event, interval: float) -> None:
        """Return when a `poll` may find something new, or `wake` is set: a source that
        must poll returns after `interval` seconds."""
        ...

    def close(self) -> None: ...


@dataclass
class StaticSource:
    """Fixed snapshots, for tests and snapshot images: `poll` hands out the next one once."""

    snapshots: list[Snapshot]
    _given: int = 0

    def open(self) -> None:
        return None

    def push(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)

    def poll(self, force: bool = False) -> Snapshot | None:
        if self._given < len(self.snapshots):
            self._given += 1
            return self.snapshots[self._given - 1]
        return None

    def wait(self, wake: threading.Event, interval: float) -> None:
        wake.wait(interval)

    def close(self) -> None:
        return None


@dataclass
class StoreSource:
    """Snapshots read from `.swarm/swarm.db`, confirmed by one `list-panes` per full read.

    Cheap by construction: between changes a poll is one pragma; events are read
    incrementally (`after_id`); the head of the open queue is kept from `task.*` events
    (`OpenTasks`); finished merge requests, which never change again, are read once and then
    only when a merge event names them.
    """

    db_path: Path | str  # the store: a SQLite file or a store URL
    host: str = ""  # in a team, this machine: only its agents are checked against tmux
    session: str = ""
    panes: PaneLister | None = None
    clock: Clock = time.time
    full_every: float = FULL_EVERY
    monotonic: Clock = time.monotonic
    store: Store | None = field(default=None, init=False)
    _version: int | None = field(default=None, init=False)
    _last_full: float = field(default=float("-inf"), init=False)
    _events: deque[EventRow] = field(default_factory=lambda: deque(maxlen=EVENT_ROWS), init=False)
    _last_event: int | None = field(default=None, init=False)
    _done_merges: dict[int, MergeRow] = field(default_factory=dict, init=False)
    _pane_cache: dict[str, PaneInfo] | None = field(default=None, init=False)
    _merges_loaded: bool = field(default=False, init=False)
    _open: OpenTasks = field(init=False)
    _agents_seen: tuple[tuple[str, str | None, int], ...] = field(default=(), init=False)
    _inbox_events: list[Event] | None = field(default=None, init=False)
    _rows: StoreRows | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._open = OpenTasks(monotonic=self.monotonic)

    @classmethod
    def for_instance(cls, instance: SwarmInstance, clock: Clock = time.time) -> StoreSource:
        tmux = Tmux(instance.socket)
        return cls(
            db_path=instance.store_url,
            host=instance.host,
            session=instance.session,
            panes=lambda: tmux.list_panes(instance.session),
            clock=clock,
        )

    def open(self) -> None:
        if self.store is None:
            self.store = Store.open(self.db_path, clock=self.clock)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def poll(self, force: bool = False) -> Snapshot | None:
        self.open()
        assert self.store is not None
        version = self.store.data_version()
        due = self.monotonic() - self._last_full >= self.full_every
        changed = version != self._version
        if not changed and not due and not force:
            return None
        self._version = version
        # Nothing committed since the last read: the rows held are still the store's, only
        # tmux liveness and the clock are fresh (on PostgreSQL, no query at all).
        snapshot = self.read(refresh_panes=due or force, reread=changed or force)
        self._last_full = self.monotonic() if due or force else self._last_full
        return snapshot

    def wait(self, wake: threading.Event, interval: float) -> None:
        """SQLite: `interval` (its data_version is read by `poll`). PostgreSQL: asleep on the
        process's LISTEN connection until a commit, `wake`, or the next timed snapshot."""
        store = self.store
        if store is None or not store.listens or self._version is None:
            wake.wait(interval)
            return
        deadline = self._last_full + self.full_every
        while not wake.is_set():
            left = deadline - self.monotonic()
            if left <= 0 or store.wait_for_change(self._version, min(left, WAKE_SLICE)) != (
                self._version
            ):
                return

    def read(self, refresh_panes: bool = True, reread: bool = True) -> Snapshot:
        """One snapshot of everything the sidebar shows; `reread`: ask the store again."""
        self.open()
        store = self.store
        assert store is not None
        if reread or self._rows is None:
            self._rows = self._read_rows(store)
        rows = self._rows
        agents = rows.agents
        seen = tuple((a.name, a.pane, a.restarts) for a in agents)
        if refresh_panes or seen != self._agents_seen or self._pane_cache is None:
            # A restart or a new pane must not wait for the next timed tmux call.
            self._pane_cache = self._read_panes()
        self._agents_seen = seen
        return Snapshot(
            now=self.clock(),
            session=self.session,
            agents=order_agents(
                [self._agent(a, rows.titles, rows.spent.get(a.name)) for a in agents],
                role_rank(agents),
            ),
            queue=rows.queue,
            queue_total=rows.queue_total,
            counts=rows.counts,
            merges_live=rows.merges_live,
            merges_done=self._finished_merges(),
            events=rows.events,
            tmux_seen=self._pane_cache is not None,
            cost_total=rows.cost_total,
            escalations=rows.escalations,
        )

    def _read_rows(self, store: Store) -> StoreRows:
        agents = store.list_agents(team=True)  # a team's sidebar shows every machine
        events = self._read_events(store)  # first: it tells whether tasks or merges moved
        held = store.list_tasks(("hooked", "working"))
        counts = store.task_counts()
        open_head = self._open.first(store, QUEUE_ROWS, counts.get("open", 0))
        queued = [t for t in held if t.status == "hooked"] + open_head
        queued.sort(key=lambda t: (t.priority, t.seq))
        spent = agent_usage(store, agents)
        total = total_of(spent.values())
        return StoreRows(
            agents=agents,
            titles={t.id: t.title for t in held},
            spent=spent,
            queue=tuple(task_row(t) for t in queued[:QUEUE_ROWS]),
            queue_total=counts.get("open", 0) + counts.get("hooked", 0),
            counts=tuple((s, counts.get(s, 0)) for s in TASK_STATUSES),
            merges_live=tuple(merge_row(m) for m in store.list_merge_requests(LIVE_MERGE_STATUSES)),
            events=events,
            cost_total=total.cost_usd if total is not None else None,
            escalations=self._escalations(store),
        )

    def _agent(self, agent: Agent, titles: dict[str, str], usage: Usage | None) -> AgentRow:
        state: str = agent.state
        local = not self.host or agent.name.startswith(f"{self.host}/")
        if self._pane_cache is not None and local:
            running = bool(self._pane_cache)
            state = live_state(agent.state, self._pane_cache.get(agent.name), running)
        cost = usage.cost_usd if usage is not None else None
        return agent_row(agent, state, titles.get(agent.hook or "", ""), cost)

    def _read_panes(self) -> dict[str, PaneInfo] | None:
        if self.panes is None:
            return None
        try:
            return {p.agent: p for p in self.panes() if p.agent}
        except Exception:  # tmux missing or refusing: show the store's view, say so
            return None

    def _read_events(self, store: Store) -> tuple[EventRow, ...]:
        if not self._merges_loaded:
            self._load_finished_merges(store)
        if self._last_event is None:  # the first read: what is on screen is all we need
            fresh = store.latest_events(EVENT_ROWS)
        else:
            fresh = store.events(after_id=self._last_event, limit=FOLLOW_LIMIT + 1)
            if len(fresh) > FOLLOW_LIMIT:
                # A burst: only the newest events are shown anyway, and merge events may
                # have been skipped, so the finished requests are read again too.
                self._events.clear()
                self._inbox_events = None  # escalations may be among the skipped: scan again
                self._load_finished_merges(store)
                self._open.invalidate()
                fresh = store.latest_events(EVENT_ROWS)
        if fresh:
            self._last_event = fresh[-1].id
        elif self._last_event is None:
            self._last_event = 0
        moved: list[str] = []
        for event in fresh:
            self._events.append(event_row(event))
            known = self._inbox_events
            # (the first scan may already hold it)
            if (
                known is not None
                and event.kind in INBOX_KINDS
                and (not known or event.id > known[-1].id)
            ):
                known.append(event)
            if event.kind.startswith("task.") and event.task:
                moved.append(event.task)
            mr_id = event.data.get("mr")
            if event.kind.startswith("merge.") and isinstance(mr_id, int):
                self._note_merge(store, mr_id)
        self._open.changed(store, moved)
        return tuple(self._events)

    def _escalations(self, store: Store) -> tuple[InboxItem, ...]:
        """Open escalations: the history is read for them once, then follows the events."""
        if self._inbox_events is None:
            self._inbox_events = [e for e in store.events() if e.kind in INBOX_KINDS]
        tasks = {item.task for item in open_escalations(self._inbox_events, {}) if item.task}
        status: dict[str, str] = {}
        for task_id in tasks:
            try:
                status[task_id] = store.get_task(task_id).status
            except SwarmError:
                continue
        return tuple(open_escalations(self._inbox_events, status))

    def _load_finished_merges(self, store: Store) -> None:
        finished = store.list_merge_requests(FINISHED_MERGES)
        self._done_merges = {mr.id: merge_row(mr) for mr in finished[-RECENT_MERGES * 2 :]}
        self._merges_loaded = True

    def _note_merge(self, store: Store, mr_id: int) -> None:
        """A merge event named this request: keep it if it left the queue."""
        try:
            mr = store.get_merge_request(mr_id)
        except SwarmError:
            return
        if mr.status in FINISHED_MERGES:
            self._done_merges[mr.id] = merge_row(mr)
            if len(self._done_merges) > RECENT_MERGES * 4:
                keep = sorted(self._done_merges.values(), key=lambda m: (m.updated_at, m.id))
                self._done_merges = {m.id: m for m in keep[-RECENT_MERGES * 2 :]}

    def _finished_merges(self) -> tuple[MergeRow, ...]:
        rows = sorted(self._done_merges.values(), key=lambda m: (m.updated_at, m.id), reverse=True)
        return tuple(rows[:RECENT_MERGES])
