"""The refinery process (`swarm refinery`, in the refinery pane): lock, poll, print, repeat.

Exactly one refinery runs per swarm (an flock on `.swarm/refinery.lock`; the kernel drops
it when the process dies, even by kill -9). On start it repairs whatever a killed refinery
left behind, then wakes when the store changes (SQLite's `data_version`, a free check every
0.2 s; PostgreSQL's NOTIFY) or when a batch's wait is over. In a team, every machine runs one
and only the holder of the store's refinery lease works (swarm.team.election). Everything it
does is printed as plain timestamped lines, so the pane reads as a live log, and recorded as
events in the store.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable

from swarm import envnames
from swarm.instance import SwarmInstance
from swarm.refinery.queue import Escalator, Log, Refinery
from swarm.refinery.settings import Settings, settings_for
from swarm.singleton import log_line, run_daemon
from swarm.store import Store
from swarm.store.backend import redact
from swarm.team.election import TeamLease

TICK = 0.2  # seconds between looks at the store's data_version
IDLE_RECHECK = 2.0  # a step at least this often, changed or not (a held batch, a moved branch)
ERROR_PAUSE = 5.0


def mayor_nudger(instance: SwarmInstance, store: Store, log: Log) -> Escalator:
    """Tell a live mayor, in its own pane, that a task needs a decision."""

    def escalate(task_id: str, text: str) -> None:
        from swarm.actions import nudge  # tmux is needed only for this
        from swarm.tmux.client import Tmux
        from swarm.witness.effects import escalation_receivers
        from swarm.witness.notify import Notifier

        # The person hears of it too (it waits in `swarm inbox` and the sidebar).
        Notifier(Tmux(instance.socket), instance.session).tell("swarm: escalation", text)

        told = escalation_receivers(instance, store)
        for agent in told:
            nudge(instance, store, agent.name, text)
            log(f"  told {agent.name} about {task_id}")
        if not told:
            log(f"  nobody receives escalations to tell about {task_id}; see the event log")

    return escalate


def serve(
    refinery: Refinery,
    store: Store,
    *,
    log: Log = log_line,
    until: Callable[[], bool] | None = None,
    once: bool = False,
    lease: TeamLease | None = None,
) -> None:
    """Recover, then step whenever the store changes or a wait is over.

    `once`: process what is ready and return (no waiting for batches to fill).
    `lease`: a team's refinery works only while it holds the team's lease, and recovers
    (finishing a lost refinery's landing) each time it takes the lease over.
    """
    active = lease is None
    if active:
        refinery.recover()
    last_version: int | None = None
    next_step = 0.0
    while until is None or not until():
        if lease is not None and lease.held != active:
            active = lease.held
            if active:
                log("active: this machine holds the team's refinery lease")
                refinery.recover()
                last_version, next_step = None, 0.0
            else:
                log("standing by: another machine's refinery holds the team's lease")
        if not active:
            assert lease is not None
            lease.wait_changed(IDLE_RECHECK)
            continue
        version = store.data_version()
        now = time.monotonic()
        if version != last_version or now >= next_step:
            last_version = version
            try:
                wait = refinery.step()
            except Exception as exc:  # a bug must not take the merge queue down
                log(f"✗ unexpected error: {exc!r}")
                traceback.print_exc()
                wait = ERROR_PAUSE
            if wait == 0.0:
                next_step = 0.0  # a batch was done: look for the next one at once
                continue
            if once:
                return
            next_step = now + min(wait if wait is not None else IDLE_RECHECK, IDLE_RECHECK)
        store.wait_for_change(version, TICK)  # LISTEN/NOTIFY on PostgreSQL, a poll on SQLite


def run_refinery(
    instance: SwarmInstance, *, once: bool = False, gate_jobs: int | None = None
) -> int:
    """`swarm refinery`: the merge queue's one process, until stopped (a stop signal leaves
    through `finally`: the gate is killed, the lease and the lock freed)."""

    def work() -> None:
        settings = settings_for(instance, gate_jobs)
        lease: TeamLease | None = None
        if instance.remote:  # a team's refinery works in a mirror of the remote
            from dataclasses import replace

            from swarm.team.hosts import this_host
            from swarm.team.remote import ensure_mirror

            mirror = ensure_mirror(instance.repo, instance.state_dir, instance.remote)
            settings = replace(settings, repo=mirror, remote=instance.remote)
            lease = TeamLease(instance.store_url, instance.host or this_host(), log=log_line)
        try:
            _serve(instance, settings, lease, once)
        finally:
            if lease is not None:
                lease.stop()

    return run_daemon(instance.state_dir, "refinery", work)


def _serve(
    instance: SwarmInstance, settings: Settings, lease: TeamLease | None, once: bool
) -> None:
    """The refinery's whole life on an open store: log what it merges how, then serve."""
    with instance.open_store() as store:
        agent = os.environ.get(envnames.AGENT) or "refinery"
        refinery = Refinery(
            settings,
            store,
            log=log_line,
            escalate=mayor_nudger(instance, store, log_line),
            agent=agent,
        )
        gate = " && ".join(settings.gate) or "(none: every candidate passes)"
        merge = settings.merge
        log_line(
            f"refinery for swarm {instance.session} (pid {os.getpid()}): target "
            f"{settings.target}, {merge.strategy}, batches of up to {merge.batch_size} "
            f"after {merge.batch_wait:g}s, {settings.gate_jobs} gate job(s)"
        )
        if lease is not None:
            log_line(f"team: remote {instance.remote}, store {redact(instance.store_url)}")
            lease.start()
        log_line(f"gate: {gate}")
        store.add_event("refinery.start", f"refinery started (pid {os.getpid()})", agent=agent)
        serve(refinery, store, once=once, lease=lease)
