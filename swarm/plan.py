"""The concrete plan of a swarm: what `swarm up` must make exist.

A layout file and its roles expand (in `swarm.config`) into one `SwarmPlan`: every
agent with its command and environment, every window with its panes in order. The tmux
builder only ever reads a plan, so building and reconciling never look at YAML again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

PaneKind = Literal["agent", "sidebar", "controller"]
TmuxLayoutName = Literal[
    "main-vertical", "main-horizontal", "tiled", "even-horizontal", "even-vertical"
]
SidebarSide = Literal["left", "right"]


@dataclass(frozen=True)
class HealthSpec:
    """Thresholds the witness applies to one role (seconds and counts)."""

    startup_grace: float = 20.0
    stall_after: float = 300.0
    nudge_after: float = 120.0
    max_restarts: int = 5
    restart_window: float = 900.0


@dataclass(frozen=True)
class PermissionsSpec:
    """What an agent of a role may do without asking a person."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    skip_permissions: bool = False
    auto_approve: tuple[str, ...] = ()


@dataclass(frozen=True)
class MergeSpec:
    """How the refinery merges finished branches (the layout's `merge` key)."""

    strategy: Literal["rebase", "merge"] = "rebase"
    batch_size: int = 4
    batch_wait: float = 2.0
    max_bounces: int = 3
    gate_jobs: int | None = None  # gate runs at once while bisecting; None: one per CPU
    target: str | None = None  # None: the repo's current branch


@dataclass(frozen=True)
class RoleSpec:
    """A role after the layout's overrides were merged into the role file."""

    name: str
    description: str
    runtime: str
    prompt: str
    permissions: PermissionsSpec = field(default_factory=PermissionsSpec)
    health: HealthSpec = field(default_factory=HealthSpec)
    guard_deny: tuple[str, ...] = ()
    sandbox: bool = True  # agents with a worktree run confined by the OS (swarm.sandbox)
    command: tuple[str, ...] = ()  # for the generic `command` runtime
    source: Path | None = None


@dataclass(frozen=True)
class AgentSpec:
    """One agent: one instance of a role, in one pane."""

    name: str  # mayor, polecat-3, witness, refinery
    role: RoleSpec

    @property
    def runtime(self) -> str:
        return self.role.runtime


@dataclass(frozen=True)
class PaneSpec:
    """One pane of a window, in the order the window lays them out."""

    name: str  # the agent's name, "sidebar" or "controller"
    kind: PaneKind
    role: str  # the role name; "sidebar"/"controller" for those panes
    command: tuple[str, ...]  # argv launched as the pane's command
    environment: tuple[tuple[str, str], ...] = ()
    start_directory: Path | None = None


@dataclass(frozen=True)
class WindowSpec:
    """One tmux window and the panes it holds, laid out by a tmux layout name."""

    name: str
    layout: TmuxLayoutName
    panes: tuple[PaneSpec, ...]
    main_size: str | None = None  # "60%" or "120": the first agent pane's size in main-* layouts
    sidebar_side: SidebarSide | None = None  # set on the window that holds the sidebar
    sidebar_width: int = 32


@dataclass(frozen=True)
class SwarmPlan:
    """Everything needed to build or reconcile one swarm."""

    layout_name: str
    layout_path: Path
    session: str
    socket: str  # the tmux -L socket name
    repo: Path
    state_dir: Path  # <repo>/.swarm
    start_directory: Path
    agents: tuple[AgentSpec, ...]
    windows: tuple[WindowSpec, ...]
    environment: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, str], ...] = ()  # tmux session options
    key_prefix: str = "g"  # prefix + this key enters the swarm's key table
    size: tuple[int, int] = (240, 70)  # width, height of a detached session
    description: str = ""
    gate: tuple[str, ...] = ()  # commands a merge must pass (the refinery's gate)
    merge: MergeSpec = field(default_factory=MergeSpec)

    def pane_environment(self, pane: PaneSpec) -> dict[str, str]:
        """The layout's environment with the pane's own on top."""
        return {**dict(self.environment), **dict(pane.environment)}

    @cached_property
    def shared_environment(self) -> dict[str, str]:
        """Variables every pane has alike: set once on the session instead of on each pane."""
        envs = [self.pane_environment(p) for p in self.pane_specs()]
        if not envs:
            return {}
        common = dict(envs[0])
        for env in envs[1:]:
            common = {k: v for k, v in common.items() if env.get(k) == v}
        return common

    def pane_specs(self) -> list[PaneSpec]:
        return [pane for window in self.windows for pane in window.panes]

    def agent(self, name: str) -> AgentSpec | None:
        return next((a for a in self.agents if a.name == name), None)
