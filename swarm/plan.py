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

from swarm.budget import Budget
from swarm.usage.prices import Price

PaneKind = Literal["agent", "sidebar", "controller"]
TmuxLayoutName = Literal[
    "main-vertical", "main-horizontal", "tiled", "even-horizontal", "even-vertical"
]
SidebarSide = Literal["left", "right"]


_SECONDS = {"gt": 0}


@dataclass(frozen=True)
class HealthSpec:
    """When the witness calls an agent of a role stuck: a role file's `health` key.

    The one model and the one set of defaults: layout validation produces it directly
    (the metadata holds its bounds) and the witness applies it as it is.
    """

    startup_grace: float = field(default=20.0, metadata={**_SECONDS, "help": "seconds to start"})
    stall_after: float = field(
        default=300.0, metadata={**_SECONDS, "help": "seconds without progress before 'stalled'"}
    )
    nudge_after: float = field(
        default=120.0, metadata={**_SECONDS, "help": "seconds idle on a hook before a nudge"}
    )
    max_restarts: int = field(
        default=5, metadata={"min": 1, "max": 100, "help": "restarts allowed per restart_window"}
    )
    restart_window: float = field(
        default=900.0, metadata={**_SECONDS, "help": "seconds over which restarts are counted"}
    )


@dataclass(frozen=True)
class PermissionsSpec:
    """What an agent of a role may do without asking a person (a role's `permissions`)."""

    allow: tuple[str, ...] = field(default=(), metadata={"help": "tools allowed without asking"})
    deny: tuple[str, ...] = field(default=(), metadata={"help": "tools never allowed"})
    skip_permissions: bool = field(default=False, metadata={"help": "skip every permission prompt"})
    auto_approve: tuple[str, ...] = field(
        default=(), metadata={"help": "prompts the swarm answers 'yes' to on the agent's behalf"}
    )


@dataclass(frozen=True)
class MergeSpec:
    """How the refinery merges finished branches: the layout's `merge` key.

    The one model and the one set of defaults: layout validation produces it directly
    and the refinery reads it from the plan.
    """

    strategy: Literal["rebase", "merge"] = "rebase"
    batch_size: int = field(default=4, metadata={"min": 1, "max": 32})
    batch_wait: float = field(default=2.0, metadata={"min": 0, "max": 3600})
    max_bounces: int = field(default=3, metadata={"min": 1, "max": 20})
    gate_jobs: int | None = field(
        default=None,
        metadata={
            "min": 1,
            "max": 32,
            "help": "gate runs at once when a batch fails; default: CPUs",
        },
    )
    target: str | None = field(
        default=None, metadata={"help": "branch merged into; default: the repo's current branch"}
    )


@dataclass(frozen=True)
class Capabilities:
    """What a role does. Code decides by these (and by the runtime's facts), never by a
    role's name: a role file of a user's own, say `reviewer`, works like a bundled one."""

    worktree: bool = field(
        default=False, metadata={"help": "works in its own git worktree, one branch per task"}
    )
    takes_tasks: bool = field(
        default=False, metadata={"help": "the controller hands it open tasks from the queue"}
    )
    receives_escalations: bool = field(
        default=False,
        metadata={"help": "told when the witness or the refinery needs a person's decision"},
    )
    numbered: bool = field(
        default=False,
        metadata={"help": "agents are named <role>-1 … <role>-N and fill windows of their own"},
    )
    runs_gate: bool = field(
        default=False, metadata={"help": "may run the layout's gate commands without asking"}
    )
    files_tasks: bool = field(
        default=False, metadata={"help": "turns what a person asks for into tasks"}
    )


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
    capabilities: Capabilities = field(default_factory=Capabilities)
    loop: str | None = None  # the swarm loop a `builtin` role runs (witness, refinery)
    key: str | None = None  # its key in the swarm key table (prefix g, then this key)
    first_message: str = ""  # what its agents are told first (a template, like `prompt`)
    nice: int = 0  # how far below the swarm's own processes its agents run (0-19)


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
    budget: Budget = field(default_factory=Budget)  # dollar limits per task and per day
    prices: tuple[tuple[str, Price], ...] = ()  # the layout's price overrides, by model key

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
