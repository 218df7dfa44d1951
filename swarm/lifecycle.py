"""Bringing a swarm up and down: the pipeline behind `swarm up` and `swarm down`.

find the layout -> load and validate -> expand into a plan -> write the plan file ->
build or reconcile tmux -> record the agents in the store. Validation happens before tmux
is touched, so a bad layout never leaves a half-built session behind. `swarm up` is the
only step that reads YAML: every other process reads the plan file it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swarm import paths
from swarm.config import load_plan
from swarm.errors import SwarmError
from swarm.git.repo import current_branch, exclude_path, find_repo
from swarm.instance import RECORD_NAME, SwarmInstance
from swarm.plan import SwarmPlan
from swarm.planfile import describe_changes, plan_changes, read_plan_if_any, write_plan
from swarm.preflight import check_before_up
from swarm.store import Store
from swarm.store.backend import parse_url
from swarm.store.health import forget as forget_lost_store
from swarm.team.hosts import sanitize, this_host
from swarm.team.remote import remote_url
from swarm.tmux.builder import BuildReport, ProgressFn, SwarmBuilder
from swarm.tmux.client import Tmux
from swarm.trust import Ask
from swarm.trust import check as check_trust
from swarm.up_guard import exclusive_up


@dataclass(frozen=True)
class UpResult:
    plan: SwarmPlan
    instance: SwarmInstance
    report: BuildReport
    changes: list[str] = field(default_factory=list)  # against the plan of the last `up`


def previous_instance(repo: Path) -> SwarmInstance | None:
    record = paths.state_dir(repo) / RECORD_NAME
    return SwarmInstance.load(record.parent) if record.exists() else None


REPO_LAYOUT = "swarm.yaml"


def default_layout(repo: Path, previous: SwarmInstance | None) -> str | None:
    """The swarm that ran here last, else the repository's own `swarm.yaml`, else `team`."""
    if previous is not None and previous.layout_path.exists():
        return str(previous.layout_path)
    own = repo / REPO_LAYOUT
    return str(own) if own.exists() else None


def bring_up(
    layout: str | None,
    repo_hint: Path | None = None,
    on_progress: ProgressFn | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    trust: bool = False,
    ask: Ask | None = None,
    store_url: str | None = None,
    remote: str | None = None,
    host: str | None = None,
) -> UpResult:
    """Build the swarm of `layout` in the repository, or reconcile the running one.

    `overrides` are layout keys merged over the file (validated like it), e.g.
    `{"roles": {"polecat": {"count": 8}}}`. A layout that came with the repository runs
    only once trusted (`swarm.trust`: `trust` approves it, `ask` asks the person). One `up`
    at a time per repository, and a failed one leaves nothing behind (`swarm.up_guard`).
    `store_url`: the store's URL (`--store`); None
    keeps the one recorded by the last `swarm up` here (the SQLite file by default).
    `remote` (`--remote`): the team's git remote; `host` (`--host`): this machine's name in
    the team (default: the hostname); both kept from the last `swarm up` when None.
    """
    repo = find_repo(repo_hint or Path.cwd())
    with exclusive_up(repo):
        return _bring_up(
            layout,
            repo,
            on_progress or (lambda _msg: None),
            overrides,
            trust,
            ask,
            store_url,
            remote,
            host,
        )


def _bring_up(
    layout: str | None,
    repo: Path,
    progress: ProgressFn,
    overrides: Mapping[str, Any] | None,
    trust: bool,
    ask: Ask | None,
    store_url: str | None,
    remote: str | None,
    host: str | None,
) -> UpResult:
    previous = previous_instance(repo)
    if store_url is None:
        store_url = previous.store if previous is not None else ""
    elif store_url:
        parse_url(store_url)  # a bad URL is refused before anything is made
    if store_url:  # a server that is down or refuses us: said now, before tmux or the record
        Store.open(store_url).close()
    if remote is None:
        remote = previous.remote if previous is not None else ""
    if remote:
        remote_url(repo, remote)  # a remote that is not there: said now
    if host is None:
        host = previous.host if previous is not None and previous.host else ""
    host = sanitize(host) if host else (this_host() if remote else "")
    if layout is None:
        layout = default_layout(repo, previous)
    plan = load_plan(layout, repo, overrides=overrides, host=host)
    check_before_up(plan, repo)  # nothing is changed before this holds
    check_trust(plan, trust=trust, ask=ask)
    progress(f"layout {plan.layout_name}: {len(plan.agents)} agents in {len(plan.windows)} windows")

    other = previous if previous is not None and previous.session != plan.session else None
    if other is not None and Tmux(other.socket).has_session(other.session):
        raise SwarmError(
            f"swarm '{other.session}' (layout {other.layout_name}) is running in {repo}; "
            "run `swarm down` first"
        )

    plan.state_dir.mkdir(parents=True, exist_ok=True)
    exclude_path(repo, "/" + paths.STATE_DIR_NAME + "/")
    instance = SwarmInstance(
        repo=repo,
        state_dir=plan.state_dir,
        session=plan.session,
        socket=plan.socket,
        layout_name=plan.layout_name,
        layout_path=plan.layout_path,
        target_branch=plan.merge.target or current_branch(repo),
        store=store_url,
        remote=remote,
        host=host,
    )
    instance.save()
    before = read_plan_if_any(plan.state_dir)
    changes = plan_changes(before, plan) if before is not None else []
    if changes:
        progress(describe_changes(changes))
    write_plan(plan)

    with instance.open_store() as store:
        report = SwarmBuilder(plan, Tmux(plan.socket), on_progress=progress).build()
        with store.transaction():  # one commit for the whole roster, not two per agent
            register_agents(store, plan, report)
    return UpResult(plan=plan, instance=instance, report=report, changes=changes)


def register_agents(store: Store, plan: SwarmPlan, report: BuildReport) -> None:
    """The store learns each agent's pane; agents gone from the plan are forgotten."""
    for agent in plan.agents:
        pane = report.panes.get(agent.name)
        store.upsert_agent(
            agent.name,
            agent.role.name,
            agent.runtime,
            pane.pane_id if pane else None,
            pane.pid if pane else None,
        )
        if agent.name in report.created or agent.name in report.respawned:
            store.set_agent_state(agent.name, "starting", "pane started by swarm up")
    planned = {a.name for a in plan.agents}
    for known in store.list_agents():
        if known.name not in planned:
            if known.hook:
                store.release_task(known.hook, f"{known.name} was removed from the layout")
            store.remove_agent(known.name)


def bring_down(instance: SwarmInstance) -> bool:
    """Stop every process of the swarm, keep its state; True if it was running."""
    was_running = Tmux(instance.socket).kill_server()
    forget_lost_store(instance.db_path)  # a store deleted while running: the next up starts anew
    if instance.store or instance.db_path.exists():
        with instance.open_store() as store:
            for agent in store.list_agents():
                store.set_agent_state(agent.name, "stopped", "swarm down")
            store.add_event("swarm.down", f"swarm {instance.session} stopped")
    return was_running
