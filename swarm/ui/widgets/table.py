"""A `DataTable` that is given whole rows each refresh and touches only what changed.

The caller thinks in columns; on screen each row is one cell holding its columns side by
side (`join_cells`): a `DataTable` renders every visible row again after any change, and a
row of one cell renders several times faster than a row of five, for the same picture.

The sidebar redraws twice a second at most, with up to 100 agents; re-adding every row
each time would reset the cursor and make Textual measure every cell and lay the screen out
again (at 100 agents that was most of the sidebar's CPU, since an agent that starts waiting
moves to the top on every such change). `sync` compares each row's cells with what is on
screen and changes only those: `update_cell` for a changed cell, `remove_row` / `add_row`
for rows that left, came or changed height, and one `sort` when the order changed. Only a
new set of columns, or a change to most of the rows, rebuilds the table. The cursor stays
on the same key. A row the caller hands in again unchanged (the same object, see
`RowCache`) costs nothing. Column widths are fixed and computed from the widget's width, so
a narrow pane never gets a horizontal scrollbar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

ROW_COLUMN = "row"  # the one column on screen


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: tuple[Text, ...]
    height: int = 1

    @property
    def signature(self) -> tuple[object, ...]:
        """What the row looks like; `Text.__eq__` ignores the base style, this does not."""
        return tuple((c.plain, str(c.style), tuple(c.spans)) for c in self.cells)


def _looks(cell: Text) -> tuple[object, ...]:
    return (cell.plain, str(cell.style), tuple(cell.spans))


class RowCache:
    """Rows kept from the last redraw, by key: a row is built again only when what it shows
    (`look`: the source row, its age text, the columns) changed, so a busy swarm's redraw
    builds the few rows that moved, not a hundred."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[object, Row]] = {}

    def get(self, key: str, look: object, build: Callable[[], Row]) -> Row:
        cached = self._rows.get(key)
        if cached is None or cached[0] != look:
            cached = (look, build())
            self._rows[key] = cached
        return cached[1]

    def keep_only(self, keys: Iterable[str]) -> None:
        wanted = set(keys)
        self._rows = {k: v for k, v in self._rows.items() if k in wanted}


def join_cells(cells: Sequence[Text], widths: Sequence[int], height: int = 1) -> Text:
    """The cells of a row side by side, as one text: each piece padded or cut to its column's
    width, line by line. The table draws a row of one cell in a fraction of the time it
    takes for several (each cell is a renderable of its own), and it looks the same since
    cells have no padding."""
    joined = Text(no_wrap=True, overflow="crop")
    if height == 1 and not any("\n" in cell.plain for cell in cells):  # the usual row
        for cell, width in zip(cells, widths, strict=True):
            if cell.cell_len != width:
                cell = cell.copy()
                cell.truncate(width, overflow="crop", pad=True)
            joined.append_text(cell)
        return joined
    lines = [cell.split("\n", allow_blank=True) for cell in cells]
    for index in range(height):
        if index:
            joined.append("\n")
        for pieces, width in zip(lines, widths, strict=True):
            piece = pieces[index].copy() if index < len(pieces) else Text("")
            piece.truncate(width, overflow="crop", pad=True)
            joined.append_text(piece)
    return joined


def plan_moves(shown: Sequence[Row], rows: Sequence[Row]) -> tuple[set[str], set[str]] | None:
    """How to go from the rows on screen to `rows` without a rebuild: the keys to remove,
    and the keys to add (new, or back with another height). None: a rebuild is cheaper
    (most rows change) or needed (a key twice)."""
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys):
        return None
    before = {r.key: r.height for r in shown}
    wanted = set(keys)
    again = {r.key for r in rows if before.get(r.key) != r.height}
    gone = {key for key in before if key not in wanted} | (again & before.keys())
    if len(gone) + len(again) > max(4, len(rows) // 2):
        return None
    return gone, again


class SyncedTable(DataTable[Text]):
    """Rows in, minimal updates out; j/k move like up/down."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            show_header=False,
            cursor_type="row",
            cell_padding=0,
            zebra_stripes=False,
        )
        self._columns: tuple[tuple[str, int], ...] = ()
        self._rows: tuple[Row, ...] = ()
        self._layout: tuple[tuple[str, int], ...] = ()  # the caller's columns
        self._joined: dict[str, tuple[Row, Row]] = {}  # key -> (row given, row shown)
        self._header_look: tuple[object, ...] | None = None
        self.rebuilds = 0  # how often the rows were re-laid out (tests check it stays low)
        self.cell_updates = 0
        self.reorders = 0

    @property
    def selected_key(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= len(self._rows):
            return None
        return self._rows[self.cursor_row].key

    def select_key(self, key: str) -> bool:
        for index, row in enumerate(self._rows):
            if row.key == key:
                self.move_cursor(row=index)
                return True
        return False

    def sync(
        self,
        columns: Sequence[tuple[str, int]],
        rows: Sequence[Row],
        header: Sequence[Text] | None = None,
    ) -> None:
        """Show `rows` under `columns` (key, width), changing as little as possible.

        On screen a row is one cell (`join_cells`); `columns` say how its pieces line up."""
        widths = [width for _key, width in columns]
        if tuple(columns) != self._layout:
            self._layout = tuple(columns)
            self._joined = {}
        rows = tuple(self._join(row, widths) for row in rows)
        if len(self._joined) > 2 * len(rows) + 8:  # forget rows that left
            self._joined = {r.key: self._joined[r.key] for r in rows}
        line = None if header is None else (join_cells(header, widths),)
        columns = ((ROW_COLUMN, sum(widths)),)
        looks = None if line is None else _looks(line[0])
        if columns != self._columns or looks != self._header_look:
            self._header_look = looks
            self._relayout(columns, rows, line)
            return
        keys = [r.key for r in rows]
        if keys == [r.key for r in self._rows] and all(
            new.height == old.height for new, old in zip(rows, self._rows, strict=True)
        ):
            for new, old in zip(rows, self._rows, strict=True):
                self._update_row(new, old)
            self._rows = rows
            return
        shown = {r.key: r for r in self._rows}
        moved = plan_moves(self._rows, rows)
        if moved is None:
            self._rebuild(rows)
            return
        gone, again = moved
        keep = self.selected_key
        for key in gone:
            self.remove_row(key)
        order = [r.key for r in self._rows if r.key not in gone]
        for row in rows:
            before = shown.get(row.key)
            if row.key in again:
                self.add_row(*row.cells, key=row.key, height=row.height)
                order.append(row.key)
            elif before is not None:
                self._update_row(row, before)
        self._rows = rows
        if order != keys:
            self._reorder(columns[0][0], keys)
        if keep is not None and keep in set(keys):
            if self.selected_key != keep:
                self.select_key(keep)
        elif rows and self.cursor_row >= len(rows):
            self.move_cursor(row=len(rows) - 1)

    def _join(self, row: Row, widths: Sequence[int]) -> Row:
        """`row` as shown: one cell; made again only when the caller made a new row."""
        cached = self._joined.get(row.key)
        if cached is not None and cached[0] is row:
            return cached[1]
        shown = Row(row.key, (join_cells(row.cells, widths, row.height),), row.height)
        self._joined[row.key] = (row, shown)
        return shown

    def _update_row(self, new: Row, old: Row) -> None:
        """Send the cells of `new` that look different from `old` to the table."""
        if new is old or new.signature == old.signature:
            return
        for (column, _width), value, before in zip(
            self._columns, new.cells, old.cells, strict=True
        ):
            if _looks(value) != _looks(before):
                self.update_cell(new.key, column, value)
                self.cell_updates += 1

    def _reorder(self, first_column: str, keys: Sequence[str]) -> None:
        """Put the rows in the order of `keys` with one `sort`: the table keeps the cell
        objects it was given, so each row is found by its first cell's identity."""
        position = {id(self.get_cell(key, first_column)): index for index, key in enumerate(keys)}
        self.sort(first_column, key=lambda cell: position[id(cell)])
        self.reorders += 1

    def _relayout(
        self,
        columns: tuple[tuple[str, int], ...],
        rows: tuple[Row, ...],
        header: Sequence[Text] | None,
    ) -> None:
        keep = self.selected_key
        self.clear(columns=True)
        self.show_header = header is not None
        labels = list(header) if header is not None else [Text("")] * len(columns)
        for (key, width), label in zip(columns, labels, strict=True):
            self.add_column(label, width=width, key=key)
        self._columns = columns
        self._rows = ()
        self._rebuild(rows, keep)

    def _rebuild(self, rows: tuple[Row, ...], keep: str | None = None) -> None:
        keep = keep if keep is not None else self.selected_key
        self.clear()
        for row in rows:
            self.add_row(*row.cells, key=row.key, height=row.height)
        self._rows = rows
        self.rebuilds += 1
        if keep is not None and not self.select_key(keep) and rows:
            self.move_cursor(row=min(self.cursor_row, len(rows) - 1))
