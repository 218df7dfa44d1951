"""The agents section: one row per agent, the ones that need a person on top.

Narrow panes (the usual 30-ish columns) show symbol, name, state, time in state and task;
from `WIDE` columns on, role, CPU and memory get columns of their own. Whatever does not
fit a row is in the detail lines under the table, for the selected agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import Static

from swarm.ui import format as fmt
from swarm.ui.data import AgentRow, Snapshot
from swarm.ui.widgets.section import needs_layout
from swarm.ui.widgets.table import Row, RowCache, SyncedTable
from swarm.usage.tokens import money

WIDE = 56  # columns from which role, CPU and memory get their own columns
SCROLLBAR = 1


def matches(agent: AgentRow, needle: str) -> bool:
    """The `/` filter: a substring of name, role, state, task id or task title."""
    if not needle:
        return True
    needle = needle.lower()
    haystack = (agent.name, agent.role, agent.shown_state, agent.task or "", agent.task_title)
    return any(needle in field.lower() for field in haystack)


def short_task(task_id: str | None, width: int) -> str:
    """A task id that fits: `sw-7k2m9`, or `7k2m9` when the column is tight."""
    if not task_id:
        return ""
    if len(task_id) > width and task_id.startswith("sw-"):
        return task_id[3:]
    return task_id


def columns_for(width: int, cost: bool = False) -> list[tuple[str, int]]:
    """`cost`: a column for dollars, wide panes only, when some runtime reports usage."""
    usable = max(12, width - SCROLLBAR)
    if usable + SCROLLBAR < WIDE:
        fixed = [("sym", 2), ("name", 11), ("state", 6), ("age", 4)]
    else:
        fixed = [
            ("sym", 2),
            ("name", 12),
            ("role", 9),
            ("state", 10),
            ("age", 5),
            ("cpu", 5),
            ("mem", 6),
        ]
        if cost:
            fixed.append(("cost", 8))
    rest = usable - sum(w for _k, w in fixed)
    if rest < 5:  # very narrow: the name gives way first
        fixed[1] = ("name", max(4, fixed[1][1] - (5 - rest)))
        rest = usable - sum(w for _k, w in fixed)
    return [*fixed, ("task", max(1, rest))]


def agent_cells(
    agent: AgentRow, columns: Sequence[tuple[str, int]], now: float
) -> tuple[Text, ...]:
    look = fmt.state_look(agent.shown_state)
    widths = dict(columns)
    wide = "role" in widths
    values: dict[str, Text] = {
        "sym": fmt.cell(look.symbol, widths["sym"], look.style),
        "name": fmt.cell(agent.name, widths["name"] - 1, "bold" if agent.needs_person else ""),
        "state": fmt.cell(
            agent.shown_state if wide else look.short, widths["state"] - 1, look.style
        ),
        "age": fmt.cell(fmt.age(agent.since, now), widths["age"] - 1, "dim"),
    }
    for key in ("name", "state", "age"):
        values[key].append(" ")
    if wide:
        values["role"] = fmt.cell(agent.role, widths["role"] - 1, "dim")
        values["role"].append(" ")
        values["cpu"] = fmt.cell(fmt.cpu(agent.cpu_percent).rjust(4), widths["cpu"] - 1)
        values["cpu"].append(" ")
        values["mem"] = fmt.cell(fmt.size(agent.rss_bytes).rjust(5), widths["mem"] - 1)
        values["mem"].append(" ")
        if "cost" in widths:
            shown = money(agent.cost_usd) if agent.cost_usd is not None else "?"
            values["cost"] = fmt.cell(shown.rjust(7), widths["cost"] - 1)
            values["cost"].append(" ")
        task_text = agent.task or ""
        if agent.task and agent.task_title:
            task_text = f"{agent.task} {agent.task_title}"
        values["task"] = fmt.cell(task_text, widths["task"], "cyan")
    else:
        values["task"] = fmt.cell(short_task(agent.task, widths["task"]), widths["task"], "cyan")
    return tuple(values[key] for key, _width in columns)


def agent_table_row(agent: AgentRow, columns: Sequence[tuple[str, int]], now: float) -> Row:
    return Row(agent.name, agent_cells(agent, columns, now))


WIDE_HEADER = {
    "sym": "",
    "name": "AGENT",
    "role": "ROLE",
    "state": "STATE",
    "age": "FOR",
    "cpu": " CPU",
    "mem": "  MEM",
    "cost": "   COST",
    "task": "TASK",
}


class AgentsTable(SyncedTable):
    """Agents, cursor on the selected one; Enter (or a click on it) focuses its pane."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *SyncedTable.BINDINGS,
        Binding("enter", "select_cursor", "focus", show=True),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: Snapshot | None = None
        self.filter_text = ""
        self.shown: tuple[AgentRow, ...] = ()
        self._cache = RowCache()

    def show(self, snapshot: Snapshot, filter_text: str | None = None) -> None:
        self.snapshot = snapshot
        if filter_text is not None:
            self.filter_text = filter_text
        self.redraw()

    def redraw(self) -> None:
        if self.snapshot is None or self.size.width == 0:
            return
        columns = columns_for(self.size.width, self.snapshot.cost_total is not None)
        self.shown = tuple(a for a in self.snapshot.agents if matches(a, self.filter_text))
        now = self.snapshot.now
        rows = [
            self._cache.get(
                a.name,
                (a, fmt.age(a.since, now), columns),
                partial(agent_table_row, a, columns, now),
            )
            for a in self.shown
        ]
        self._cache.keep_only(a.name for a in self.shown)
        header = None
        if "role" in dict(columns):
            header = [Text(WIDE_HEADER[key], style="bold dim") for key, _w in columns]
        self.sync(columns, rows, header)

    def on_resize(self) -> None:
        self.redraw()

    @property
    def selected(self) -> AgentRow | None:
        key = self.selected_key
        return next((a for a in self.shown if a.name == key), None)


def detail_lines(agent: AgentRow | None, width: int, now: float, empty: bool = False) -> Text:
    """What the row had no room for: role and runtime, CPU and memory, task title, detail."""
    if empty:
        return Text("no agents yet (`swarm up` starts them)", style="dim")
    if agent is None:
        return Text("no agent selected (↑↓ j k, or a click)", style="dim")
    look = fmt.state_look(agent.shown_state)
    lines = Text(no_wrap=True, overflow="crop")
    head = f"{agent.name} · {agent.role} · {agent.runtime}"
    lines.append(fmt.clip(head, width), style="bold")
    stats = (
        f"{agent.shown_state} {fmt.age(agent.since, now)} · cpu {fmt.cpu(agent.cpu_percent)}"
        f" · {fmt.size(agent.rss_bytes)}"
    )
    if agent.restarts:
        stats += f" · ↻{agent.restarts}"
    if agent.cost_usd is not None:
        stats += f" · {money(agent.cost_usd)}"
    lines.append("\n")
    lines.append(fmt.clip(stats, width), style=look.style)
    if agent.task:
        lines.append("\n")
        lines.append(fmt.clip(f"{agent.task} {agent.task_title}".strip(), width), style="cyan")
    if agent.detail:
        lines.append("\n")
        lines.append(fmt.clip(agent.detail, width), style="italic")
    return lines


class AgentDetail(Static):
    """The selected agent in full; updated only when its text changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: tuple[str, str] | None = None

    def show(self, agent: AgentRow | None, now: float, empty: bool = False) -> None:
        text = detail_lines(agent, max(10, self.size.width or 30), now, empty)
        look = (text.plain, str(text.spans))
        if look != self._shown:
            layout = needs_layout(self._shown, text)
            self._shown = look
            self.update(text, layout=layout)
