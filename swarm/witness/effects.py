"""Carrying out the witness's decisions: through `swarm.actions`, the store and tmux.

Every step is recorded as a `witness.*` event (or `escalation`) with its reason, so
`swarm log` tells the whole story of a recovery. Typing into a pane (a nudge) takes a
second or two with its confirmation, so nudges run in worker threads, each with its own
store connection, and the tick never waits for them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from swarm import actions, roster
from swarm.errors import SwarmError
from swarm.instance import SwarmInstance
from swarm.lifecycle import register_agents
from swarm.planfile import read_plan
from swarm.store import Store
from swarm.store.models import Agent
from swarm.tmux.builder import SwarmBuilder
from swarm.tmux.client import Tmux
from swarm.witness.notify import Notifier
from swarm.witness.recovery import (
    Action,
    Approve,
    Escalate,
    GiveUp,
    Note,
    Notify,
    Nudge,
    Reconcile,
    RespawnPane,
    Restart,
    escalation_text,
)

Log = Callable[[str], None]
RECONCILE_EVERY = 5.0  # seconds between two rebuilds of missing panes
STALE_LOCK_AGE = 5.0  # an index.lock this old, with no process in the worktree, is left over


class Effects:
    """Executes actions for one swarm; `poked` tells the loop which panes it typed into."""

    def __init__(self, instance: SwarmInstance, tmux: Tmux, log: Log, notifier: Notifier) -> None:
        self.instance = instance
        self.tmux = tmux
        self.log = log
        self.notifier = notifier
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="witness-nudge")
        self._in_flight: set[str] = set()
        self._reconciled_at = float("-inf")
        self.poked: dict[str, float] = {}  # agent -> when the witness typed into its pane

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def execute(self, store: Store, action: Action) -> None:
        try:
            self._execute(store, action)
        except SwarmError as exc:
            self.log(f"{_subject(action)}: {type(action).__name__.lower()} failed: {exc.message}")
            store.add_event(
                "witness.error",
                f"{type(action).__name__.lower()} failed: {exc.message}",
                agent=_subject(action),
            )

    def _execute(self, store: Store, action: Action) -> None:
        if isinstance(action, Restart):
            self._restart(store, action)
        elif isinstance(action, Nudge):
            store.add_event(
                "witness.nudge", f"{action.agent} nudged: {action.reason}", agent=action.agent
            )
            self.log(f"{action.agent}: nudge ({action.reason})")
            self._nudge(action.agent, action.text)
        elif isinstance(action, Escalate):
            self._escalate(store, action)
        elif isinstance(action, GiveUp):
            self._give_up(store, action)
        elif isinstance(action, Notify):
            where = self.notifier.tell("swarm: an agent is waiting", action.message, action.agent)
            told = ", ".join(where) if where else "the sidebar only (no client attached)"
            store.add_event(
                "witness.notify", f"{action.message} (told: {told})", agent=action.agent
            )
            self.log(f"{action.agent}: waiting for a person; told {told}")
        elif isinstance(action, Approve):
            actions.answer_prompt(self.instance, store, action.agent, approve=True)
            self.poked[action.agent] = time.time()
            store.add_event(
                "witness.approve",
                f"{action.agent}: approved `{action.command}` (allowed by '{action.pattern}')",
                agent=action.agent,
                data={"command": action.command, "pattern": action.pattern},
            )
            self.log(
                f"{action.agent}: auto-approved `{action.command}` (matches '{action.pattern}')"
            )
        elif isinstance(action, Note):
            store.add_event(action.kind, action.message, agent=action.agent)
            self.log(action.message)
        elif isinstance(action, Reconcile):
            self._reconcile(store, action)
        elif isinstance(action, RespawnPane):
            kill = ["-k"] if action.kill else []
            launch = actions.launch_args(self.instance, action.name)
            self.tmux.run(("respawn-pane", *kill, "-t", action.pane_id, *launch), check=False)
            store.add_event(
                "witness.respawn",
                f"{action.name} pane respawned: {action.reason}",
                agent=action.name,
            )
            self.log(f"{action.name}: pane respawned ({action.reason})")

    # -- the steps ---------------------------------------------------------------------

    def _restart(self, store: Store, action: Restart) -> None:
        record = store.get_agent(action.agent)
        if record.worktree or roster.capabilities(self.instance, record.role).worktree:
            cleared = clear_stale_index_lock(
                worktree_of(self.instance, action.agent, record.worktree)
            )
            if cleared is not None:
                store.add_event(
                    "witness.unlock",
                    f"removed a stale git lock left by {action.agent}: {cleared}",
                    agent=action.agent,
                )
        actions.restart_agent(self.instance, store, action.agent, action.reason)
        store.add_event(
            "witness.restart",
            f"{action.agent} restarted: {action.reason}",
            agent=action.agent,
            task=record.hook,
        )
        self.log(
            f"{action.agent}: restart ({action.reason})"
            + (f", holding {record.hook}" if record.hook else "")
        )

    def _nudge(self, agent: str, text: str) -> None:
        if agent in self._in_flight:
            return
        self._in_flight.add(agent)
        self.poked[agent] = time.time()
        future = self._pool.submit(_nudge_job, self.instance, agent, text)

        def done(finished: Future[str]) -> None:
            self._nudged(agent, finished)

        future.add_done_callback(done)

    def _nudged(self, agent: str, future: Future[str]) -> None:
        self._in_flight.discard(agent)
        self.poked[agent] = time.time()
        exc = future.exception()
        if exc is not None:
            self.log(f"{agent}: nudge not delivered: {getattr(exc, 'message', exc)}")
        else:
            self.log(f"{agent}: {future.result()}")

    def _escalate(self, store: Store, action: Escalate) -> None:
        text = escalation_text(action.reason)
        store.add_event("escalation", action.reason, agent=action.agent, task=action.task)
        self.log(f"{action.agent}: ESCALATION: {action.reason}")
        self.notifier.tell("swarm: escalation", action.reason, action.agent)
        for told in escalation_receivers(self.instance, store):
            if told.name != action.agent:
                self._nudge(told.name, text)

    def _give_up(self, store: Store, action: GiveUp) -> None:
        if action.task is not None:
            task = store.get_task(action.task)
            if task.status in ("hooked", "working"):
                store.release_task(action.task, f"released by the witness: {action.reason}")
                self.log(f"{action.agent}: {action.task} back in the queue")
        store.set_agent_state(action.agent, "dead", action.reason)
        store.add_event(
            "witness.failed",
            f"{action.agent} given up: {action.reason}",
            agent=action.agent,
            task=action.task,
        )
        self.log(f"{action.agent}: given up ({action.reason})")

    def _reconcile(self, store: Store, action: Reconcile) -> None:
        now = time.monotonic()
        if now - self._reconciled_at < RECONCILE_EVERY:
            return
        self._reconciled_at = now
        plan = read_plan(self.instance.state_dir)  # the plan of `swarm up`, not the layout
        report = SwarmBuilder(plan, self.tmux).build()
        register_agents(store, plan, report)
        made = ", ".join(report.created + report.respawned) or "nothing"
        store.add_event(
            "witness.reconcile",
            f"{action.reason}: rebuilt {made}",
            data={"created": report.created, "respawned": report.respawned},
        )
        self.log(f"reconcile ({action.reason}): rebuilt {made}")


def escalation_receivers(instance: SwarmInstance, store: Store) -> list[Agent]:
    """The live agents whose role receives escalations (every mayor, however many)."""
    live = [a for a in store.list_agents() if a.state not in ("dead", "stopped", "done")]
    return roster.that(instance, live, "receives_escalations")


def _nudge_job(instance: SwarmInstance, agent: str, text: str) -> str:
    with instance.open_store() as store:
        result = actions.nudge(instance, store, agent, text)
    return "nudge delivered" + ("" if result.confirmed else " (not confirmed)")


def _subject(action: Action) -> str | None:
    return getattr(action, "agent", None) or getattr(action, "name", None)


def worktree_of(instance: SwarmInstance, agent: str, stored: str | None) -> Path:
    from swarm.work import agent_worktree

    return Path(stored) if stored else agent_worktree(instance, agent)


def index_lock(worktree: Path) -> Path | None:
    """Where git keeps the worktree's index lock (its gitdir is named by the `.git` file)."""
    gitfile = worktree / ".git"
    try:
        if gitfile.is_file():
            return Path(gitfile.read_text().split("gitdir:", 1)[1].strip()) / "index.lock"
    except (OSError, IndexError):
        return None
    return gitfile / "index.lock"


def clear_stale_index_lock(worktree: Path) -> str | None:
    """A git killed mid-commit leaves `index.lock`, and every later git in that worktree
    fails: the agent can never finish, and every hand-over to it fails. Remove the lock when
    it is old and no git process works in the worktree; return its path if removed."""
    lock = index_lock(worktree)
    if lock is None:
        return None
    try:
        if time.time() - lock.stat().st_mtime < STALE_LOCK_AGE:
            return None
    except OSError:
        return None  # no lock: the normal case
    if _git_running_in(worktree):
        return None
    try:
        lock.unlink()
    except OSError:
        return None
    return str(lock)


def _git_running_in(folder: Path) -> bool:
    """Does a git process run with its working directory in `folder`?"""
    target = str(folder.resolve())
    try:
        entries = os.listdir("/proc")
    except OSError:
        return False
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as fh:
                if not fh.read().strip().startswith("git"):
                    continue
            cwd = os.readlink(f"/proc/{name}/cwd")
        except OSError:
            continue
        if cwd == target or cwd.startswith(target + "/"):
            return True
    return False
