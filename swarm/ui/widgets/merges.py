"""The merges section: the refinery's queue (queued, testing), then the latest results.

A row is selectable (m retries, R rejects the selected request). A bounced or rejected
request says why: on the same line when it fits there, else on a second line.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from swarm.store.models import LIVE_MERGE_STATUSES
from swarm.ui import format as fmt
from swarm.ui.data import MergeRow, Snapshot
from swarm.ui.widgets.table import Row, SyncedTable

WIDE = 52
SCROLLBAR = 1


def merge_columns(width: int) -> list[tuple[str, int]]:
    usable = max(12, width - SCROLLBAR)
    if usable + SCROLLBAR < WIDE:
        fixed = [("sym", 2), ("id", 5), ("task", 9)]
    else:
        fixed = [("sym", 2), ("id", 6), ("task", 9), ("status", 9), ("agent", 11), ("age", 5)]
    return [*fixed, ("what", max(1, usable - sum(w for _k, w in fixed)))]


def what_text(mr: MergeRow, now: float, wide: bool) -> str:
    """The status and, once finished, how long ago and why."""
    if wide:
        return mr.result or (f"attempt {mr.attempts}" if mr.attempts > 1 else "")
    text = mr.status
    if mr.status not in LIVE_MERGE_STATUSES:
        text += f" {fmt.age(mr.updated_at, now)}"
    return text


def merge_row_cells(
    mr: MergeRow, columns: Sequence[tuple[str, int]], now: float
) -> tuple[tuple[Text, ...], int]:
    """Cells for one request, and the row's height (2 when a narrow row shows the why)."""
    widths = dict(columns)
    wide = "status" in widths
    look = fmt.merge_look(mr.status)
    values: dict[str, Text] = {
        "sym": fmt.cell(look.symbol, widths["sym"], look.style),
        "id": fmt.cell(f"#{mr.id}", widths["id"] - 1, "bold"),
        "task": fmt.cell(mr.task_id, widths["task"] - 1, "cyan"),
    }
    for key in ("id", "task"):
        values[key].append(" ")
    if wide:
        values["status"] = fmt.cell(mr.status, widths["status"] - 1, look.style)
        values["agent"] = fmt.cell(mr.agent, widths["agent"] - 1, "dim")
        values["age"] = fmt.cell(fmt.age(mr.updated_at, now), widths["age"] - 1, "dim")
        for key in ("status", "agent", "age"):
            values[key].append(" ")
        values["what"] = fmt.cell(what_text(mr, now, wide=True), widths["what"], "italic")
    else:
        values["what"] = fmt.cell(what_text(mr, now, wide=False), widths["what"], look.style)
    if wide and len(what_text(mr, now, wide=True)) > widths["what"] and explains(mr):
        values["what"] = fmt.cell("", widths["what"], "italic")  # said in full below
        wide = False
    cells = tuple(values[key] for key, _w in columns)
    if not wide and explains(mr):
        return with_second_line(cells, columns, "  " + mr.result), 2
    return cells, 1


def explains(mr: MergeRow) -> bool:
    """A bounced or rejected request carries its reason: a person must be able to read it."""
    return bool(mr.result) and mr.status in ("bounced", "rejected")


def with_second_line(
    cells: tuple[Text, ...], columns: Sequence[tuple[str, int]], text: str
) -> tuple[Text, ...]:
    """Add a line under a row that reads across all its cells.

    Cells have no padding, so the pieces of `text` cut at the column widths line up into
    one continuous line (a `DataTable` cell cannot span columns).
    """
    line = fmt.clip(text, sum(w for _k, w in columns))
    out: list[Text] = []
    offset = 0
    for cell, (_key, width) in zip(cells, columns, strict=True):
        both = Text(no_wrap=True, overflow="crop")
        both.append_text(cell)  # keeps the cell's own style on its first line only
        both.append("\n")
        both.append(line[offset : offset + width].ljust(width), style="italic dim")
        offset += width
        out.append(both)
    return tuple(out)


class MergesTable(SyncedTable):
    """Live requests in queue order, then recent results, newest first."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.snapshot: Snapshot | None = None
        self.shown: tuple[MergeRow, ...] = ()

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        if self.snapshot is None or self.size.width == 0:
            return
        columns = merge_columns(self.size.width)
        self.shown = (*self.snapshot.merges_live, *self.snapshot.merges_done)
        rows = []
        for mr in self.shown:
            cells, height = merge_row_cells(mr, columns, self.snapshot.now)
            rows.append(Row(str(mr.id), cells, height))
        self.sync(columns, rows)

    @property
    def selected(self) -> MergeRow | None:
        key = self.selected_key
        return next((m for m in self.shown if str(m.id) == key), None)


def merges_title(snapshot: Snapshot | None) -> str:
    if snapshot is None:
        return "merges"
    queued = sum(1 for m in snapshot.merges_live if m.status == "queued")
    testing = sum(1 for m in snapshot.merges_live if m.status == "testing")
    parts = ["merges"]
    if queued:
        parts.append(f"{queued} queued")
    if testing:
        parts.append(f"{testing} testing")
    return " · ".join(parts) if len(parts) > 1 else "merges (queue empty)"
