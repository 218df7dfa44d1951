"""Layout + roles -> `SwarmPlan`: agents, windows (with polecat overflow), sidebar, controller.

Agent names: a role with count 1 gives one agent named like the role (`mayor`); polecats,
and any role with count > 1, give `name-1` ... `name-N` (polecats are always numbered).

Windows: each `panes` item is an agent name or a role name (= all of that role's agents not
placed by name elsewhere). Agents placed by no window get the default windows: `control`
(main-vertical, the single agents) and `polecats` (tiled). A window with more panes than
`polecats_per_window` is split into `name`, `name-2`, ... with the same layout; a window left
with no panes is dropped. The sidebar goes into the first window (first pane if
`side: left`, else last) and the plan always ends with the `controller` window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swarm import envnames, paths
from swarm.config.layouts import MAIN_LAYOUTS, LoadedLayout, PaneItem, find_layout, load_layout
from swarm.config.limits import check_layout, check_repo_key
from swarm.config.roles import ResolvedRole, resolve_role, role_search_path
from swarm.config.schema import suggest
from swarm.config.yamlpos import KeyPath, format_path
from swarm.errors import NotFoundError
from swarm.git.setup import WorktreeSetup, setup_environment
from swarm.plan import AgentSpec, PaneSpec, SwarmPlan, TmuxLayoutName, WindowSpec
from swarm.runtimes.launch import (
    LaunchContext,
    agent_start_directory,
    controller_command,
    launch_command,
    swarm_argv,
)

CONTROLLER_WINDOW = "controller"


@dataclass
class _Window:
    name: str
    layout: TmuxLayoutName
    agents: list[str]
    main_size: str | None = None


def is_git_repo(repo: Path) -> bool:
    return (repo / ".git").exists()


def session_name(repo: Path, layout_name: str) -> str:
    """The default tmux session name: `<repo dir name>-<layout name>`, tmux-safe."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{repo.name}-{layout_name}").strip("-")
    return name or "swarm"


def load_plan(
    layout: str | None,
    repo: Path,
    *,
    overrides: Mapping[str, Any] | None = None,
    host: str = "",
) -> SwarmPlan:
    """The whole pipeline: find the layout, load and validate it and its roles, expand.

    `overrides` (from the command line) are deep-merged into the layout before validation,
    e.g. `{"runtime": "sim", "roles": {"polecat": {"count": 8}}}`. `host`: in a team, this
    machine's name, which every agent's name then carries (`laptop-a/polecat-3`).
    """
    path = find_layout(layout, repo)
    loaded = load_layout(path, overrides=overrides)
    target = resolve_repo(loaded, repo)
    if not is_git_repo(target):
        raise NotFoundError(f"{target}: not a git repository (run `git init` first)")
    return expand(loaded, target, host=host)


@dataclass(frozen=True)
class LayoutSummary:
    """What `swarm validate` reports: the plan a layout gives (str: one short line)."""

    plan: SwarmPlan

    def __str__(self) -> str:
        names = ", ".join(w.name for w in self.plan.windows)
        agents, windows = len(self.plan.agents), len(self.plan.windows)
        return (
            f"{agents} agent{'s' if agents != 1 else ''}, "
            f"{windows} window{'s' if windows != 1 else ''}: {names}"
        )

    def lines(self) -> list[str]:
        return summarize(self.plan)


def validate_layout(path: Path | str, repo: Path | None = None) -> LayoutSummary:
    """Check a layout file and every role it names, without needing a git repository.

    Returns the summary of the plan it would give for `repo` (default: the current folder);
    raises `ConfigError` with the first problem.
    """
    loaded = load_layout(Path(path))
    base = resolve_repo(loaded, repo or Path.cwd())
    return LayoutSummary(expand(loaded, base))


def resolve_repo(loaded: LoadedLayout, repo: Path) -> Path:
    """The layout's `repo` key (relative to the repo given by the CLI) or that repo."""
    repo = repo.expanduser().resolve()
    if loaded.layout.repo is None:
        return repo
    target = (repo / Path(loaded.layout.repo).expanduser()).resolve()
    check_repo_key(loaded, target)
    return target


def expand(
    loaded: LoadedLayout, repo: Path, *, check_folders: bool = True, host: str = ""
) -> SwarmPlan:
    layout, doc = loaded.layout, loaded.doc
    path = loaded.path.resolve()

    start = (repo / Path(layout.start_directory).expanduser()).resolve()
    if check_folders and not start.is_dir():
        raise doc.error(("start_directory",), f"no such folder: {start}")
    for i, entry in enumerate(layout.role_paths):
        folder = (path.parent / Path(entry).expanduser()).resolve()
        if not folder.is_dir():
            raise doc.error(("role_paths", i), f"no such folder: {folder}")

    folders = role_search_path(path, layout.role_paths, repo)
    resolved: dict[str, ResolvedRole] = {}
    for name, override in loaded.role_overrides().items():
        resolved[name] = resolve_role(
            name, override, layout_doc=doc, folders=folders, layout_runtime=layout.runtime
        )

    agents: list[AgentSpec] = []
    by_role: dict[str, list[str]] = {}
    for name, role in resolved.items():
        numbered = role.spec.capabilities.numbered or role.count > 1
        names = (
            [f"{name}-{i}" for i in range(1, role.count + 1)]
            if numbered
            else ([name] if role.count == 1 else [])
        )
        by_role[name] = names
        agents.extend(AgentSpec(name=n, role=role.spec) for n in names)
    if not agents:
        raise doc.error(("roles",), "no agents to run: every role has count 0")

    windows = _place_agents(loaded, agents, by_role)
    windows = _split(windows, layout.polecats_per_window)

    session = layout.session or session_name(repo, loaded.name)
    check_layout(loaded, session)
    state = paths.state_dir(repo)
    socket = paths.socket_name(repo, session)
    ctx = LaunchContext(
        repo=repo,
        state_dir=state,
        socket=socket,
        session=session,
        base_ref=layout.merge.target or "HEAD",
        gate=tuple(layout.gate),
    )
    tree = layout.worktree
    layout_env = {
        **dict(layout.environment),
        **setup_environment(WorktreeSetup(tree.copy, tree.link, tree.setup)),
    }
    # In a team the layout's names stay local; the agents' names carry the machine.
    agents = [replace(a, name=f"{host}/{a.name}") if host else a for a in agents]
    agent_by_name = {(a.name.rpartition("/")[2] if host else a.name): a for a in agents}

    def pane_env(name: str, role: str | None) -> tuple[tuple[str, str], ...]:
        identity = envnames.pane_identity(
            agent=name, role=role, state_dir=state, repo=repo, socket=socket, session=session
        )
        return tuple({**layout_env, **identity}.items())

    def agent_pane(name: str) -> PaneSpec:
        agent = agent_by_name[name]
        return PaneSpec(
            name=agent.name,
            kind="agent",
            role=agent.role.name,
            command=launch_command(agent, ctx),
            environment=pane_env(agent.name, agent.role.name),  # a team's: host/name
            start_directory=agent_start_directory(agent, ctx, start),
        )

    specs: list[WindowSpec] = []
    for index, window in enumerate(windows):
        panes = [agent_pane(n) for n in window.agents]
        side = None
        if index == 0 and layout.sidebar.enabled:
            side = layout.sidebar.side
            sidebar = PaneSpec(
                name="sidebar",
                kind="sidebar",
                role="sidebar",
                command=swarm_argv("sidebar"),
                environment=pane_env("sidebar", None),
                start_directory=start,
            )
            panes = [sidebar, *panes] if side == "left" else [*panes, sidebar]
        specs.append(
            WindowSpec(
                name=window.name,
                layout=window.layout,
                panes=tuple(panes),
                main_size=window.main_size,
                sidebar_side=side,
                sidebar_width=layout.sidebar.width,
            )
        )
    specs.append(
        WindowSpec(
            name=CONTROLLER_WINDOW,
            layout="tiled",
            panes=(
                PaneSpec(
                    name="controller",
                    kind="controller",
                    role="controller",
                    command=controller_command(),
                    environment=pane_env("controller", None),
                    start_directory=start,
                ),
            ),
        )
    )
    return SwarmPlan(
        layout_name=loaded.name,
        layout_path=path,
        session=session,
        socket=socket,
        repo=repo,
        state_dir=state,
        start_directory=start,
        agents=tuple(agents),
        windows=tuple(specs),
        environment=tuple(layout_env.items()),
        options=tuple(layout.options.items()),
        key_prefix=layout.keys.prefix,
        description=layout.description,
        gate=layout.gate,
        merge=layout.merge,
        budget=layout.budget,
        prices=tuple(layout.prices.items()),
    )


def _default_windows(agents: list[AgentSpec], by_role: dict[str, list[str]]) -> list[_Window]:
    """The control window (single agents), one tiled window for the agents that take tasks
    (named after their first role: `polecats`), and one per other role with several agents."""
    control = _Window("control", "main-vertical", [])
    workers: list[str] = []
    worker_roles: list[str] = []
    others: dict[str, _Window] = {}
    for agent in agents:
        role = agent.role.name
        if agent.role.capabilities.takes_tasks:
            workers.append(agent.name)
            worker_roles += [role] if role not in worker_roles else []
        elif len(by_role[role]) > 1:
            others.setdefault(role, _Window(f"{role}s", "tiled", [])).agents.append(agent.name)
        else:
            control.agents.append(agent.name)
    name = f"{worker_roles[0]}s" if worker_roles else "workers"
    return [control, _Window(name, "tiled", workers), *others.values()]


def _place_agents(
    loaded: LoadedLayout, agents: list[AgentSpec], by_role: dict[str, list[str]]
) -> list[_Window]:
    layout, doc = loaded.layout, loaded.doc
    if layout.windows is None:
        return _default_windows(agents, by_role)
    agent_names = [a.name for a in agents]
    known = set(agent_names)
    explicit: dict[str, KeyPath] = {}
    role_refs: dict[str, KeyPath] = {}
    window_names: dict[str, KeyPath] = {}
    refs: list[list[tuple[str, str | None]]] = []

    for wi, window in enumerate(layout.windows):
        name_path: KeyPath = ("windows", wi, "name")
        if window.name == CONTROLLER_WINDOW:
            raise doc.error(
                name_path, f"window name '{window.name}' is reserved for the swarm's controller"
            )
        if window.name in window_names:
            raise doc.error(
                name_path,
                f"window name '{window.name}' is already used at "
                f"{format_path(window_names[window.name])}",
            )
        window_names[window.name] = name_path
        items: list[tuple[str, str | None]] = []
        for pi, item in enumerate(window.panes):
            item_path: KeyPath = ("windows", wi, "panes", pi)
            ref, size = (item.agent, item.size) if isinstance(item, PaneItem) else (item, None)
            ref_path = (*item_path, "agent") if isinstance(item, PaneItem) else item_path
            if size is not None and (pi != 0 or window.layout not in MAIN_LAYOUTS):
                raise doc.error(
                    (*item_path, "size"),
                    "size is allowed only on the first pane "
                    "of a main-vertical or main-horizontal window",
                )
            if ref in known:
                if ref in explicit:
                    raise doc.error(
                        ref_path, f"agent '{ref}' is already placed at {format_path(explicit[ref])}"
                    )
                explicit[ref] = item_path
            elif ref in by_role:
                if ref in role_refs:
                    raise doc.error(
                        ref_path, f"role '{ref}' is already placed at {format_path(role_refs[ref])}"
                    )
                role_refs[ref] = item_path
            else:
                raise doc.error(ref_path, _unknown_agent(ref, agent_names, by_role))
            items.append((ref, size))
        refs.append(items)

    windows: list[_Window] = []
    for window, items in zip(layout.windows, refs, strict=True):
        placed: list[str] = []
        for ref, _ in items:
            if ref in known:
                placed.append(ref)
            else:
                placed.extend(a for a in by_role[ref] if a not in explicit)
        main_size = items[0][1] if items else None
        windows.append(_Window(window.name, window.layout, placed, main_size))

    unplaced = [a for a in agents if a.name not in explicit and a.role.name not in role_refs]
    if unplaced:
        windows.extend(_default_windows(unplaced, by_role))
    return windows


def _unknown_agent(ref: str, agent_names: list[str], by_role: dict[str, list[str]]) -> str:
    match = re.fullmatch(r"(.+)-([0-9]+)", ref)
    if match and match.group(1) in by_role and by_role[match.group(1)][:1] != [match.group(1)]:
        role = match.group(1)
        return f"unknown agent '{ref}': roles.{role}.count is {len(by_role[role])}"
    close = suggest(ref, [*agent_names, *by_role])
    if close:
        return f"unknown agent or role '{ref}' (did you mean '{close}'?)"
    return f"unknown agent or role '{ref}' (agents: {', '.join(agent_names)})"


def _split(windows: list[_Window], per_window: int) -> list[_Window]:
    """Split windows with too many panes; drop empty ones; make every name unique."""
    result: list[_Window] = []
    used: set[str] = {CONTROLLER_WINDOW}

    def unique(name: str) -> str:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate)
        return candidate

    for window in windows:
        if not window.agents:
            continue
        chunks = [
            window.agents[i : i + per_window] for i in range(0, len(window.agents), per_window)
        ]
        for n, chunk in enumerate(chunks):
            result.append(
                _Window(
                    unique(window.name), window.layout, chunk, window.main_size if n == 0 else None
                )
            )
    return result


def summarize(plan: SwarmPlan) -> list[str]:
    """Lines for `swarm validate`: the session, each window and its panes."""
    lines = [f"layout {plan.layout_name}: session {plan.session}, {len(plan.agents)} agents"]
    for window in plan.windows:
        names = ", ".join(p.name for p in window.panes)
        lines.append(f"  {window.name} ({window.layout}): {names}")
    return lines
