"""Build a swarm's tmux session from a plan, or bring an existing one back in line with it.

`swarm up` is idempotent: it reads the live panes once, then issues only what is missing
(panes killed, polecats added), what is dead (respawned in place, same pane id) and what is
extra (polecats removed), all in two batched tmux invocations:

1. structure: create the session, windows and panes, each tagged with its agent name
   (pane options `@swarm_agent`, `@swarm_role`), respawn dead panes, kill extra ones;
2. arrangement: put panes back in plan order, apply each window's layout string, session
   options, border format and key bindings.

Panes are found again by their `@swarm_agent` tag, never by position or title, so a person
rearranging windows or an agent renaming its pane does not confuse a later `up`. An agent
found in two panes keeps one (see `extra_panes`); the others are killed.

Who may build, and when, is `swarm.heal`'s business (one build at a time, under a lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from swarm.errors import TmuxError
from swarm.plan import PaneSpec, SwarmPlan, WindowSpec
from swarm.tmux.client import Command, PaneInfo, Tmux, exact_session
from swarm.tmux.keys import key_binding_commands
from swarm.tmux.tiling import LayoutTooSmall, window_layout

ProgressFn = Callable[[str], None]

BORDER_FORMAT = (
    "#{?@swarm_agent,#[bold]#{@swarm_agent}#[nobold] #{@swarm_role}"
    "#{?@swarm_state, · #{@swarm_state},}#{?@swarm_task, · #{@swarm_task},},#{pane_title}}"
)

# Options of our own private server; the person's own server is never touched.
SERVER_OPTIONS: tuple[Command, ...] = (
    ("set-option", "-wg", "remain-on-exit", "on"),
    ("set-option", "-wg", "pane-border-status", "top"),
    ("set-option", "-wg", "pane-border-format", BORDER_FORMAT),
    ("set-option", "-wg", "allow-rename", "off"),
    ("set-option", "-wg", "automatic-rename", "off"),
    # Claude Code redraws on focus changes; extended keys let Shift+Enter reach agents.
    ("set-option", "-g", "focus-events", "on"),
    ("set-option", "-s", "extended-keys", "on"),
    ("set-option", "-g", "status-left-length", "40"),  # the whole session name, not `[swarm-dem`
)


@dataclass
class BuildReport:
    """What `build` changed, by pane name."""

    session_created: bool = False
    created: list[str] = field(default_factory=list)
    respawned: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # "agent pane_id" of each extra killed
    panes: dict[str, PaneInfo] = field(default_factory=dict)

    def summary(self) -> str:
        parts = []
        if self.session_created:
            parts.append("session created")
        for label, names in (
            ("created", self.created),
            ("respawned", self.respawned),
            ("removed", self.removed),
            ("duplicates removed", self.duplicates),
        ):
            if names:
                parts.append(f"{label} {len(names)}")
        parts.append(f"{len(self.panes)} panes")
        return ", ".join(parts)


def pane_launch_args(pane: PaneSpec, plan: SwarmPlan) -> list[str]:
    """`-c DIR -e K=V ... -- argv`: where and how a pane's command starts."""
    args = ["-c", str(pane.start_directory or plan.start_directory)]
    shared = plan.shared_environment
    for key, value in plan.pane_environment(pane).items():
        if shared.get(key) != value:
            args += ["-e", f"{key}={value}"]
    return [*args, "--", *pane.command]


def extra_panes(
    panes: Iterable[tuple[str, str]], keep: Mapping[str, str | None] | None = None
) -> list[tuple[str, str]]:
    """(agent, pane id) of every pane beyond the first for an agent found in several.

    The pane to keep is the one the store records for the agent (`keep`), else the oldest
    (tmux numbers panes in creation order): two panes for one polecat would be two agents
    in one worktree on one task.
    """
    by_agent: dict[str, list[str]] = {}
    for agent, pane_id in panes:
        if agent:
            by_agent.setdefault(agent, []).append(pane_id)
    extras: list[tuple[str, str]] = []
    for agent, ids in by_agent.items():
        if len(ids) < 2:
            continue
        stored = (keep or {}).get(agent)
        kept = stored if stored in ids else min(ids, key=_pane_number)
        extras += [(agent, pane_id) for pane_id in ids if pane_id != kept]
    return extras


def _pane_number(pane_id: str) -> int:
    try:
        return int(pane_id.lstrip("%"))
    except ValueError:
        return 1 << 62


def tag_commands(target: str, pane: PaneSpec) -> list[Command]:
    """Name the pane just created; `target` resolves to it (its window's active pane)."""
    return [
        ("set-option", "-p", "-t", target, "@swarm_agent", pane.name),
        ("set-option", "-p", "-t", target, "@swarm_role", pane.role),
        ("select-pane", "-t", target, "-T", pane.name),
    ]


class SwarmBuilder:
    """Reconciles the tmux session of one plan; reports progress through a callback."""

    def __init__(self, plan: SwarmPlan, tmux: Tmux, on_progress: ProgressFn | None = None) -> None:
        self.plan = plan
        self.tmux = tmux
        self.on_progress: ProgressFn = on_progress or (lambda _msg: None)
        self.session_target = exact_session(plan.session)

    def build(
        self,
        *,
        before_start: Callable[[BuildReport], None] | None = None,
        only_missing: bool = False,
        keep: Mapping[str, str | None] | None = None,
    ) -> BuildReport:
        """Create what is missing, respawn what is dead, remove what is extra.

        `before_start` sees the report (what will be created or respawned, and the live
        panes) before any pane starts, so agents can be registered before their runtimes
        report. `only_missing` (a healer): create the missing panes, never respawn a dead
        one (the witness restarts agents with its backoff) nor remove a pane the plan does
        not name. `keep`: agent -> the pane to keep if it has two.
        """
        report = BuildReport()
        live = self.tmux.list_panes(self.plan.session)
        fresh = not live
        # Torn down on a failure only if this build started it: an empty pane list may be a
        # list-panes that failed on a running swarm (a healer must never end the swarm).
        started_server = fresh and not only_missing and not self.tmux.server_running()
        try:
            extras = extra_panes(((p.agent, p.pane_id) for p in live), keep)
            gone = {pane_id for _agent, pane_id in extras}
            live = [p for p in live if p.pane_id not in gone]
            report.duplicates = [f"{agent} {pane_id}" for agent, pane_id in extras]
            structure: list[Command] = [("kill-pane", "-t", pane_id) for _agent, pane_id in extras]
            structure += self._structure_commands(live, report, only_missing=only_missing)
            report.panes = {p.agent: p for p in live if p.agent}
            if before_start is not None:
                before_start(report)
            if structure:
                self.on_progress(
                    f"creating {len(report.created)} panes, respawning {len(report.respawned)}, "
                    f"removing {len(report.removed)}"
                )
                self.tmux.run(*structure)
            live = self.tmux.list_panes(self.plan.session)
            self.on_progress("arranging windows and key bindings")
            self.tmux.run(*self._arrangement_commands(live, fresh))
        except TmuxError:
            if started_server:
                # Nothing half-built is left behind: the server is this build's own.
                self.tmux.kill_server()
            raise
        report.panes = {p.agent: p for p in self.tmux.list_panes(self.plan.session) if p.agent}
        self.on_progress(f"swarm {self.plan.session}: {report.summary()}")
        return report

    # -- structure ---------------------------------------------------------------------

    def _structure_commands(
        self, live: list[PaneInfo], report: BuildReport, *, only_missing: bool = False
    ) -> list[Command]:
        plan = self.plan
        commands: list[Command] = []
        by_agent = {p.agent: p for p in live if p.agent}
        wanted = {pane.name for pane in plan.pane_specs()}

        for pane in live:
            if not only_missing and pane.agent and pane.agent not in wanted:
                commands.append(("kill-pane", "-t", pane.pane_id))
                report.removed.append(pane.agent)

        session_exists = bool(live)
        if session_exists:
            for key, value in plan.shared_environment.items():
                commands.append(("set-environment", "-t", self.session_target, key, value))
        deferred: list[Command] = []
        for window in plan.windows:
            window_panes = [p for p in live if p.swarm_window == window.name and p.agent in wanted]
            if not session_exists:
                # The sidebar (a Textual app, the heaviest start) is split off last, once
                # every agent pane exists; the arrangement moves it back to its place.
                first_window = replace(
                    window, panes=tuple(p for p in window.panes if p.kind != "sidebar")
                )
                commands += self._new_session(first_window)
                later = [p for p in window.panes if p.kind == "sidebar"]
                deferred = self._split_rest(self.session_target + ":^", later)
                session_exists = True
                report.session_created = True
                report.created += [p.name for p in window.panes]
            elif not window_panes and not any(by_agent.get(p.name) for p in window.panes):
                commands += self._new_window(window)
                report.created += [p.name for p in window.panes]
            else:
                window_id = window_panes[0].window_id if window_panes else None
                commands += self._fill_window(
                    window, window_id, by_agent, report, respawn=not only_missing
                )
        return commands + deferred

    def _new_session(self, window: WindowSpec) -> list[Command]:
        plan = self.plan
        width, height = plan.size
        first, *rest = window.panes
        target = self.session_target + ":"
        shared = plan.shared_environment
        # `new-session -e` also sets the session's environment: the first pane's own
        # identity (SWARM_AGENT…) must not stay there for later panes and respawns.
        own = [k for k, v in plan.pane_environment(first).items() if shared.get(k) != v]
        size = ("-x", str(width), "-y", str(height))
        commands: list[Command] = [
            ("new-session", "-d", "-s", plan.session, "-n", window.name, *size,
             *(f"-e{key}={value}" for key, value in shared.items()),
             *pane_launch_args(first, plan)),
            *(("set-environment", "-t", self.session_target, "-u", key) for key in own),
            *SERVER_OPTIONS,
            ("set-option", "-w", "-t", target, "@swarm_window", window.name),
            *tag_commands(target, first),
        ]  # fmt: skip
        return commands + self._split_rest(target, rest)

    def _new_window(self, window: WindowSpec) -> list[Command]:
        first, *rest = window.panes
        target = self.session_target + ":"
        commands: list[Command] = [
            ("new-window", "-t", target, "-n", window.name, *pane_launch_args(first, self.plan)),
            ("set-option", "-w", "-t", target, "@swarm_window", window.name),
            *tag_commands(target, first),
        ]
        return commands + self._split_rest(target, rest)

    def _split_rest(self, target: str, panes: Sequence[PaneSpec]) -> list[Command]:
        """Split the newest pane again and again: panes end up in plan order."""
        commands: list[Command] = []
        for pane in panes:
            commands.append(("split-window", "-t", target, *pane_launch_args(pane, self.plan)))
            commands += tag_commands(target, pane)
            # Re-tile as we go so a window of many panes never runs out of room to split.
            commands.append(("select-layout", "-t", target, "tiled"))
        return commands

    def _fill_window(
        self,
        window: WindowSpec,
        window_id: str | None,
        by_agent: dict[str, PaneInfo],
        report: BuildReport,
        *,
        respawn: bool = True,
    ) -> list[Command]:
        """Re-create missing panes next to their neighbours; respawn dead ones in place."""
        commands: list[Command] = []
        previous: str | None = None  # a tmux target that resolves to the pane before
        existing = [by_agent[p.name] for p in window.panes if p.name in by_agent]
        if window_id is None and existing:
            window_id = existing[0].window_id
        for index, pane in enumerate(window.panes):
            info = by_agent.get(pane.name)
            if info is not None:
                if info.dead and respawn:
                    commands.append(
                        (
                            "respawn-pane",
                            "-k",
                            "-t",
                            info.pane_id,
                            *pane_launch_args(pane, self.plan),
                        )
                    )
                    report.respawned.append(pane.name)
                else:
                    report.kept.append(pane.name)
                previous = info.pane_id
                continue
            assert window_id is not None  # a window with no live pane was created whole
            launch = pane_launch_args(pane, self.plan)
            if previous is not None:
                commands.append(("split-window", "-t", previous, *launch))
            else:
                following = next(
                    by_agent[p.name].pane_id
                    for p in window.panes[index + 1 :]
                    if p.name in by_agent
                )
                commands.append(("split-window", "-b", "-t", following, *launch))
            commands += tag_commands(window_id, pane)
            commands.append(("select-layout", "-t", window_id, "tiled"))
            previous = window_id  # the new pane is now its window's active pane
            report.created.append(pane.name)
        return commands

    # -- arrangement -------------------------------------------------------------------

    def _arrangement_commands(self, live: list[PaneInfo], fresh: bool) -> list[Command]:
        plan = self.plan
        commands: list[Command] = []
        by_agent = {p.agent: p for p in live if p.agent}
        for window in plan.windows:
            placed = [by_agent[p.name] for p in window.panes if p.name in by_agent]
            if not placed:
                continue
            window_id = placed[0].window_id
            members = [p for p in placed if p.window_id == window_id]
            in_window = [p for p in live if p.window_id == window_id]
            commands += _order_commands(members, in_window)
            commands += self._layout_commands(window, window_id, in_window)
        for key, value in plan.options:
            commands.append(("set-option", "-t", self.session_target + ":", key, value))
        commands += key_binding_commands(plan, {name: p.pane_id for name, p in by_agent.items()})
        if fresh:
            first_agent = next((p for p in plan.pane_specs() if p.kind == "agent"), None)
            if first_agent is not None and first_agent.name in by_agent:
                pane_id = by_agent[first_agent.name].pane_id
                commands += [("select-window", "-t", pane_id), ("select-pane", "-t", pane_id)]
        return commands

    def _layout_commands(
        self, window: WindowSpec, window_id: str, in_window: list[PaneInfo]
    ) -> list[Command]:
        sidebar = window.sidebar_side if any(p.kind == "sidebar" for p in window.panes) else None
        agent_count = len(in_window) - (1 if sidebar else 0)
        width, height = in_window[0].window_width, in_window[0].window_height
        try:
            layout = window_layout(
                window.layout,
                width,
                height,
                agent_count,
                main_size=window.main_size,
                sidebar_side=sidebar,
                sidebar_width=window.sidebar_width,
            )
        except LayoutTooSmall:
            # A very small terminal: tmux's own layout still shows every pane.
            layout = window.layout
        commands: list[Command] = [("select-layout", "-t", window_id, layout)]
        bar = next((p for p in in_window if p.agent == "sidebar"), None)
        if sidebar and bar is not None:
            # tmux shares out a resize in proportion; the sidebar keeps its width instead
            # (a client attaching with another terminal size resizes the window).
            keep = f"resize-pane -t {bar.pane_id} -x {window.sidebar_width}"
            commands.append(("set-hook", "-w", "-t", window_id, "window-resized", keep))
        return commands


def _order_commands(members: list[PaneInfo], in_window: list[PaneInfo]) -> list[Command]:
    """Swap panes so the window lists the plan's panes first, in plan order.

    Layout strings assign cells in pane order; a person may have swapped panes by hand.
    Panes the swarm does not know (a person's own split) keep their place after ours.
    """
    order = [p.pane_id for p in sorted(in_window, key=lambda p: p.pane_index)]
    commands: list[Command] = []
    for position, pane in enumerate(members):
        current = order.index(pane.pane_id)
        if current != position:
            other = order[position]
            commands.append(("swap-pane", "-d", "-s", pane.pane_id, "-t", other))
            order[position], order[current] = order[current], order[position]
    return commands
